"""``export_dataset``: load a dataset version, scan (and optionally redact) secrets, write a format and a card."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from datagen.datasets.catalog import load_rows
from datagen.errors import InputError
from datagen.export import FORMATS, card
from datagen.export.formats import write_alpaca, write_chatml, write_jsonl
from datagen.export.secrets import redact_text, scan_rows
from datagen.fsutil import check_writable
from datagen.store.engine import Store
from datagen.store.runs import tracked_run

TEXT_FIELDS = ("instruction", "input", "output")


def export_dataset(
    store: Store,
    name: str,
    version: int | None,
    fmt: str,
    out_dir: str | Path,
    redact: bool = False,
    chatml_text: bool = False,
    parent_run_id: int | None = None,
) -> list[Path]:
    """Write dataset ``name`` (latest version when None) as ``fmt`` into ``out_dir``; returns the paths written.

    Every format gets a README.md card; the secret scan runs first and its report goes into the card
    (and ``scan.json``). ``chatml_text`` adds the rendered ``<|im_start|>`` text next to the messages.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder")
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} is not empty: export into a new folder")
    check_writable(out, "export folder", folder=True)
    info, items = load_rows(store, name, version)
    config = {"dataset": f"{info['name']}@{info['version']}", "format": fmt, "out_dir": str(out),
              "redact": redact, "chatml_text": chatml_text}  # fmt: skip
    with tracked_run(store, "export", config, parent_run_id) as run:
        rows: list[dict[str, Any]] = [asdict(r) for r in items]
        scan = scan_rows(rows, TEXT_FIELDS)
        if redact:
            flagged = set(scan["records"])  # only rows with findings need a second pass
            for r in rows:
                if r["id"] in flagged:
                    for f in TEXT_FIELDS:
                        r[f] = redact_text(r[f])
        out.mkdir(parents=True, exist_ok=True)
        paths = _write(fmt, rows, out, chatml_text)
        facts = card.gather(store, info, rows)
        readme = out / "README.md"
        files = [str(p.relative_to(out)) for p in paths]
        readme.write_text(card.render(info, rows, facts, scan, fmt, redact, files), encoding="utf-8")
        scan_path = out / "scan.json"
        scan_path.write_text(
            json.dumps({**scan, "redacted": redact}, indent=1, default=str), encoding="utf-8"
        )
        run.count("records", len(rows))
        run.count("secret_findings", scan["findings"])
    return [*paths, readme, scan_path]


def _write(fmt: str, rows: list[dict[str, Any]], out: Path, chatml_text: bool) -> list[Path]:
    if fmt == "jsonl":
        return write_jsonl(rows, out)
    if fmt == "alpaca":
        return write_alpaca(rows, out)
    if fmt == "chatml":
        return write_chatml(rows, out, text=chatml_text)
    from datagen.export.hf import write_hf

    return write_hf(rows, out)
