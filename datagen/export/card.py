"""The dataset card (README.md): counts, methods, teachers and their terms, filters, review statistics, lineage,
and what the secret scan found. Written with every export format; a Hugging Face folder reads its YAML header.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import select

from datagen.conversation import exchanges, is_multi_turn, system_of
from datagen.errors import InputError
from datagen.export import card_meta
from datagen.export.config import ExportConfig
from datagen.export.formats import by_split
from datagen.review.stats import review_stats
from datagen.store.engine import Store
from datagen.store.models import Record, Run, Verdict

# Terms a dataset user must know about, by a substring of the teacher's provider or model name.
TERMS = (
    ("smollm", "SmolLM2 (Hugging Face TB): Apache-2.0 license."),
    ("anthropic", "Anthropic: outputs are subject to Anthropic's usage policy and terms (https://www.anthropic.com/legal)."),
    ("claude", "Anthropic: outputs are subject to Anthropic's usage policy and terms (https://www.anthropic.com/legal)."),
    ("openai", "OpenAI: outputs are subject to OpenAI's terms of use (https://openai.com/policies), including its rules on developing competing models."),
    ("gpt", "OpenAI: outputs are subject to OpenAI's terms of use (https://openai.com/policies), including its rules on developing competing models."),
    ("llama", "Meta Llama: the Llama community license's terms on using outputs apply."),
    ("mistral", "Mistral AI: check the model's license (Apache-2.0 for open-weight models, the Mistral terms for the API)."),
    ("qwen", "Qwen: check the model's license (Apache-2.0 or the Qwen license, depending on the model)."),
)  # fmt: skip


TRAINING = (
    "## Training on it",
    "",
    "Loss on the assistant's tokens only. `datagen train` trains each record as a conversation (system prompt if"
    " set, then every user and assistant turn) with TRL's SFTTrainer and `assistant_only_loss=True`, so every"
    " assistant turn of a multi-turn conversation is trained. That option needs a chat template"
    " with `{% generation %}` markers, which SmolLM2-135M-Instruct's own template lacks: datagen ships a ChatML"
    " template that renders exactly SmolLM2's text with those markers around each assistant answer and its"
    " `<|im_end|>` (`finetune.chat_template.chatml_template()`; saved with the trained adapter), and uses it for"
    " any ChatML model whose text it reproduces. A model whose template it cannot reproduce trains on"
    " prompt/completion rows with the prompt masked (for a multi-turn conversation, only its last answer).",
)


def terms_for(provider: str | None, model: str | None) -> str:
    key = f"{provider or ''} {model or ''}".lower()
    for needle, text in TERMS:
        if needle in key:
            return text
    return "unknown: check the teacher model's license and terms before use."


def gather(store: Store, info: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Facts for the card from the database: lineage of every row, filter verdicts and configs, review stats."""
    ids = [r["id"] for r in rows]
    depth: dict[int, int] = {}
    roots: Counter[str] = Counter()
    filters: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"records": 0, "passed": 0, "versions": set(), "thresholds": set()}
    )
    filter_runs: set[int] = set()
    with store.session() as s:
        for i in range(0, len(ids), 500):
            for v in s.scalars(select(Verdict).where(Verdict.record_id.in_(ids[i : i + 500]))).all():
                f = filters[v.filter_name]
                f["records"] += 1
                f["passed"] += bool(v.passed)
                f["versions"].add(v.filter_version)
                if (v.details or {}).get("threshold") is not None:
                    f["thresholds"].add(json.dumps(v.details["threshold"]))
                if v.run_id is not None:
                    filter_runs.add(v.run_id)
        links = _ancestry(s, rows)
        for r in rows:
            d, node = 0, r["id"]
            while links[node][0] is not None and links[node][0] in links and d < 50:
                node, d = links[node][0], d + 1  # type: ignore[assignment]
            depth[r["id"]] = d
            roots[links[node][1]] += 1
        configs = {
            run.id: {
                k: run.config[k]
                for k in ("filters", "settings", "policy", "annotate_only")
                if k in run.config
            }
            for run in s.scalars(
                select(Run).where(Run.id.in_(sorted(filter_runs)), Run.kind == "filter")
            ).all()
        }
    teachers = Counter((r["provider"] or "-", r["model"] or "-") for r in rows)
    try:
        stats = review_stats(store, info["source"]["scope"])
    except InputError as e:  # a scope that no longer resolves (say, a database copied without its runs)
        stats = {"error": str(e)}
    return {
        "filters": {
            k: {**v, "versions": sorted(v["versions"]), "thresholds": sorted(v["thresholds"])}
            for k, v in sorted(filters.items())
        },
        "filter_configs": configs,
        "teachers": [
            {"provider": p, "model": m, "records": n, "terms": terms_for(p, m)}
            for (p, m), n in teachers.most_common()
        ],
        "lineage": {
            "with_parent": sum(1 for r in rows if r["parent_id"] is not None),
            "max_depth": max(depth.values(), default=0),
            "depth": dict(sorted(Counter(depth.values()).items())),
            "root_methods": dict(roots),
        },
        "review": stats,
    }


def _ancestry(s: Any, rows: list[dict[str, Any]]) -> dict[int, tuple[int | None, str]]:
    """id -> (parent id, method) for every row and all its ancestors, loaded level by level in batches."""
    links: dict[int, tuple[int | None, str]] = {r["id"]: (r["parent_id"], r["method"]) for r in rows}
    asked: set[int] = set()
    while True:
        frontier = sorted(
            {p for p, _ in links.values() if p is not None and p not in links and p not in asked}
        )
        if not frontier:
            return links
        asked.update(frontier)
        for i in range(0, len(frontier), 500):
            q = select(Record.id, Record.parent_id, Record.method).where(Record.id.in_(frontier[i : i + 500]))
            for rid, parent, method in s.execute(q).all():
                links[rid] = (parent, method)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _rate(r: dict[str, Any]) -> str:
    if not r or not r.get("n"):
        return "n/a (nothing reviewed)"
    return f"{_pct(r['rate'])} ({r['k']}/{r['n']}; Wilson 95% CI {_pct(r['low'])}–{_pct(r['high'])})"


def render(info: dict[str, Any], rows: list[dict[str, Any]], facts: dict[str, Any], scan: dict[str, Any],
           cfg: ExportConfig, files: list[str]) -> str:  # fmt: skip
    """The README.md text: the Hub's YAML header (``card_meta``), then what the data is and where it came from.
    ``files`` are the data files written, one per split in split order."""
    fmt, redacted = cfg.format, cfg.redact
    splits = {s: len(rs) for s, rs in by_split(rows).items()}
    title = cfg.pretty_name or f"{info['name']} (version {info['version']})"
    data = card_meta.card_data(n=len(rows), data_files=dict(zip(splits, files, strict=True)), license=cfg.license,
                               language=cfg.language, pretty_name=title, fmt=fmt)  # fmt: skip
    out = card_meta.header(data)
    out += [f"# {title}", ""]
    out += [
        f"Exported as `{fmt}` by datagen: {len(rows)} records. Files: " + ", ".join(f"`{f}`" for f in files),
        "",
    ]
    out += _turns(rows, fmt)
    if cfg.system_prompt and fmt in ("chatml", "prompt-completion", "hf"):
        own = sum(system_of(r.get("messages")) is not None for r in rows)
        keep = f" (conversations with a system turn of their own keep it: {own})" if own else ""
        out += [
            f"Every conversation opens with the system prompt {json.dumps(cfg.system_prompt)}{keep}.",
            "",
        ]
    if cfg.chat_template:
        out += [f"`text` is the conversation rendered with the chat template of `{cfg.chat_template}`.", ""]
    if info["forced"]:
        out += [
            "> **Created with `--force`: the review gate did not pass.** "
            + "; ".join(info["gate"].get("failures", [])),
            "",
        ]
    out += (
        ["## Splits", "", "| split | records |", "|---|---|"]
        + [f"| {s} | {n} |" for s, n in splits.items()]
        + [""]
    )
    out += [
        "Splits are deterministic (seeded), stratified by method/operation, and no near-duplicate cluster",
        "(same content, dedup link, or embedding cosine ≥ "
        f"{info['source'].get('cluster_threshold')}) spans two splits.",
        "",
    ]
    unrev = "included" if info["source"].get("include_unreviewed", True) else "excluded"
    out += [
        "Records: kept by the filter chain and not rejected by a reviewer, with reviewers' edits applied (the"
        f" edited revision replaces the original); records no one reviewed are {unrev} (review is a sample"
        " that gates and measures the run).",
        "",
    ]
    out += ["## Methods and operations", "", "| method | operation | records |", "|---|---|---|"]
    for (m, o), n in sorted(Counter((r["method"], r["operation"] or "-") for r in rows).items()):
        out.append(f"| {m} | {o} | {n} |")
    out += [
        "",
        "## Teachers and their terms",
        "",
        "| provider | model | records | terms |",
        "|---|---|---|---|",
    ]
    out += [f"| {t['provider']} | {t['model']} | {t['records']} | {t['terms']} |" for t in facts["teachers"]]
    out += [
        "",
        "## Filters",
        "",
        "| filter | versions | records scored | passed | thresholds |",
        "|---|---|---|---|---|",
    ]
    for name, f in facts["filters"].items():
        out.append(
            f"| {name} | {', '.join(f['versions'])} | {f['records']} | {f['passed']} | {', '.join(f['thresholds']) or '-'} |"
        )
    if facts["filter_configs"]:
        out += [
            "",
            "Filter run configurations:",
            "",
            "```json",
            json.dumps(facts["filter_configs"], indent=1, default=str),
            "```",
        ]
    out += ["", "## Review", "", *_review(info, facts["review"])]
    out += ["", *TRAINING]
    lin = facts["lineage"]
    out += [
        "",
        "## Lineage",
        "",
        f"- records derived from a parent: {lin['with_parent']} of {len(rows)}",
        f"- depth (rounds from the root): {lin['depth']}; deepest {lin['max_depth']}",
        f"- root methods: {lin['root_methods']}",
        "",
    ]
    out += ["## Secrets and personal data", ""]
    if scan["findings"]:
        state = (
            "replaced with `[REDACTED_<KIND>]` (`--redact`)"
            if redacted
            else "**left in place** (export with `--redact` to replace them)"
        )
        out += [
            f"The scan found {scan['findings']} match(es) in {len(scan['records'])} record(s), {state}:",
            "",
            f"- by kind: {scan['by_kind']}",
            f"- by field: {scan['by_field']}",
            f"- records: {scan['records'][:50]}",
            "",
        ]
    else:
        out += ["The scan (API keys, private keys, emails, phone numbers) found nothing.", ""]
    return "\n".join(out)


def _turns(rows: list[dict[str, Any]], fmt: str) -> list[str]:
    """How many records are multi-turn conversations, and how this format holds their turns."""
    multi = [r for r in rows if is_multi_turn(r.get("messages"))]
    with_system = sum(system_of(r.get("messages")) is not None for r in rows)
    if not multi and not with_system:
        return ["Multi-turn conversations: 0 (every record is one user turn and one answer).", ""]
    most = max((exchanges(r["messages"]) for r in multi), default=1)
    return [f"Multi-turn conversations: {len(multi)} of {len(rows)} records (up to {most} user turns);"
            f" with a system turn of their own: {with_system}. {HOLDS[fmt]}", ""]  # fmt: skip


HOLDS = {
    "jsonl": "`messages` holds every turn; `instruction` is the first user turn and `output` the last answer.",
    "alpaca": "Alpaca rows carry LLaMA-Factory's columns: `instruction`/`input`/`output` are the last exchange,"
    " `history` the earlier `[user, assistant]` pairs and `system` the system turn.",
    "chatml": "`messages` holds every turn.",
    "prompt-completion": "`prompt` holds every turn before the last answer and `completion` the last assistant"
    " turn: TRL trains on that last answer only (earlier answers are context).",
    "hf": "`messages` holds every turn; `instruction` is the first user turn and `output` the last answer.",
}


def _review(info: dict[str, Any], st: dict[str, Any]) -> list[str]:
    gate = info["gate"]
    lines = [
        f"- gate: {'passed' if gate.get('passed') else 'not passed'}"
        f" (min reviewed fraction {gate.get('min_reviewed_fraction')}, acceptance floor {gate.get('acceptance_floor')})"
    ]
    if "error" in st:
        return [*lines, f"- statistics unavailable: {st['error']}"]
    lines += [
        f"- reviewed {st['reviewed']} of {st['population']} kept records ({_pct(st['reviewed_fraction'])});"
        f" human decisions {st['human']}, automatic {st['automatic']}",
        f"- acceptance (as is): {_rate(st['acceptance'])}",
    ]
    d = st["defect_rate_unreviewed"]
    if d.get("estimate") is not None:
        lines.append(
            f"- estimated defect rate of unreviewed records: {_pct(d['estimate'])} (95% {_pct(d['low'])}–{_pct(d['high'])}) of {d['unreviewed']}"
        )
    lines += ["", "| stratum | population | acceptance |", "|---|---|---|"]
    lines += [f"| {k} | {v['population']} | {_rate(v)} |" for k, v in st["strata"].items()]
    if st["filters"]:
        lines += [
            "",
            "| filter | precision (keep) | recall (keep) | suggested threshold |",
            "|---|---|---|---|",
        ]
        for name, f in st["filters"].items():
            lines.append(
                f"| {name} | {_pct(f['precision_keep'])} | {_pct(f['recall_keep'])} | {f.get('suggested_threshold')} |"
            )
    for k in st["kappa"]:
        lines.append(
            f"- Cohen's kappa {k['reviewers'][0]} vs {k['reviewers'][1]}: {k['kappa']} on {k['n']} records"
        )
    return lines
