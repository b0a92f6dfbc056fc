"""``run_export``: load a dataset version, scan (and optionally redact) secrets, write a format and a card."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from datagen import progress
from datagen.config import build, resolved
from datagen.datasets.catalog import load_rows
from datagen.errors import InputError
from datagen.export import card
from datagen.export.config import ExportConfig
from datagen.export.formats import (
    text_renderer,
    write_alpaca,
    write_chatml,
    write_jsonl,
    write_prompt_completion,
)
from datagen.export.hub import check_pushable, push_folder
from datagen.export.secrets import redact_text, scan_rows
from datagen.fsutil import check_writable
from datagen.stage import StageResult
from datagen.store.engine import Store
from datagen.store.runs import tracked_run

TEXT_FIELDS = ("instruction", "input", "output")
TURN_FIELDS = ("system", "user", "assistant")


def scanned(row: dict[str, Any]) -> dict[str, Any]:
    """What the secret scan reads of a row: its three fields, or for a conversation every turn (by role), so a
    secret in a middle turn is found and nothing is counted twice."""
    if not row.get("messages"):
        return row
    by_role = {f: "\n\n".join(t["content"] for t in row["messages"] if t["role"] == f) for f in TURN_FIELDS}
    return {"id": row["id"], **by_role}


def redact_row(row: dict[str, Any]) -> None:
    for f in TEXT_FIELDS:
        row[f] = redact_text(row[f])
    if row.get("messages"):
        row["messages"] = [{**t, "content": redact_text(t["content"])} for t in row["messages"]]


def run_export(store: Store, cfg: ExportConfig, parent_run: int | None = None) -> StageResult:
    """The export stage: write a dataset version in one format with its card and secret scan.

    Every format gets a README.md card; the secret scan runs first and its report goes into the card (and
    ``scan.json``). The summary names the dataset version, the files written and the scan.
    """
    from datagen.datasets.catalog import show_dataset

    info = show_dataset(store, cfg.dataset, cfg.version)
    ref = f"{info['name']}@{info['version']}"
    out = Path(cfg.out or f"exports/{info['name']}-v{info['version']}-{cfg.format}")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder")
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} is not empty: export into a new folder")
    check_writable(out, "export folder", folder=True)
    info, items = load_rows(store, info["name"], info["version"])
    config = {**resolved(cfg), "dataset": ref, "out": str(out)}
    with tracked_run(store, "export", config, parent_run) as run:
        steps = progress.meter("steps", 3 + bool(cfg.push_to_hub))
        progress.status(f"scanning {len(items):,} records for secrets")
        rows: list[dict[str, Any]] = [asdict(r) for r in items]
        scan = scan_rows([scanned(r) for r in rows], TEXT_FIELDS + TURN_FIELDS)
        if cfg.redact:
            flagged = set(scan["records"])  # only rows with findings need a second pass
            for r in rows:
                if r["id"] in flagged:
                    redact_row(r)
        if cfg.push_to_hub:
            check_pushable(scan, cfg.redact, cfg.push_to_hub)
        steps.advance()
        progress.status(f"writing {cfg.format}")
        with _all_or_nothing(out):
            paths = _write(cfg, rows, out)
            steps.advance()
            progress.status("writing the card")
            facts = card.gather(store, info, rows)
            readme = out / "README.md"
            files = [str(p.relative_to(out)) for p in paths]
            readme.write_text(card.render(info, rows, facts, scan, cfg, files), encoding="utf-8")
            scan_path = out / "scan.json"
            scan_path.write_text(
                json.dumps({**scan, "redacted": cfg.redact}, indent=1, default=str), encoding="utf-8"
            )
        run.count("records", len(rows))
        run.count("secret_findings", scan["findings"])
        steps.advance()
        pushed = None
        if cfg.push_to_hub:
            progress.status(f"pushing to {cfg.push_to_hub}")
            message = f"datagen export {ref} ({cfg.format})"
            pushed = push_folder(out, cfg.push_to_hub, private=cfg.private, message=message)
            run.counters["pushed"] = pushed
            steps.advance()
    summary = {"dataset": ref, "format": cfg.format, "out": str(out), "pushed": pushed,
               "files": [str(p) for p in [*paths, readme, scan_path]], "scan": scan}  # fmt: skip
    return StageResult(run.id, summary, {"folder": str(out)})


@contextmanager
def _all_or_nothing(out: Path) -> Iterator[None]:
    """Write into ``out`` (new, or empty): when writing fails (no space, no permission, a read-only or
    immutable folder) nothing is left, not even the folders made for it, and the error is one line (exit 2)."""
    made = [p for p in (out, *out.parents) if not p.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
        yield
    except OSError as e:
        if made:
            shutil.rmtree(made[-1], ignore_errors=True)
        else:
            for child in out.iterdir():
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        raise InputError(
            f"cannot write the export folder {out}: {e.strerror or e}; nothing was written"
        ) from None


def export_dataset(
    store: Store,
    name: str,
    version: int | None,
    fmt: str,
    out_dir: str | Path,
    redact: bool = False,
    chatml_text: bool = False,
    parent_run_id: int | None = None,
    **options: Any,
) -> list[Path]:
    """``run_export`` for one dataset version and format; returns the paths written. ``options``: other
    ``ExportConfig`` fields (``system_prompt``, ``chat_template``, ``license``, ...)."""
    cfg = build(ExportConfig, {"dataset": name, "format": fmt, "out": str(out_dir), "version": version,
                               "redact": redact, "chatml_text": chatml_text, **options}, "export")  # fmt: skip
    return [Path(p) for p in run_export(store, cfg, parent_run_id).summary["files"]]


def _write(cfg: ExportConfig, rows: list[dict[str, Any]], out: Path) -> list[Path]:
    """The data files, one per split, in split order."""
    if cfg.format == "jsonl":
        return write_jsonl(rows, out)
    if cfg.format == "alpaca":
        return write_alpaca(rows, out)
    render = text_renderer(cfg.chat_template) if cfg.chat_template else None
    if cfg.format == "chatml":
        return write_chatml(rows, out, cfg.chatml_text, cfg.system_prompt, render)
    if cfg.format == "prompt-completion":
        return write_prompt_completion(rows, out, cfg.system_prompt, render)
    from datagen.export.hf import write_hf

    return write_hf(rows, out, cfg.system_prompt, render)
