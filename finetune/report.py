"""The Markdown report of a training run: settings, loss curve, and its latest score (``finetune.score_report``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from datagen.store.engine import Store
from datagen.store.models import Dataset, EvalSet, Run, Score, TrainLog, TrainRun


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_loss_curve(store: Store, train_run_id: int, path: Path) -> Path:
    """Training loss per step and validation loss at each evaluation, from ``train_logs``."""
    with store.session() as s:
        logs = s.execute(
            select(TrainLog.step, TrainLog.loss, TrainLog.eval_loss)
            .where(TrainLog.train_run_id == train_run_id)
            .order_by(TrainLog.step, TrainLog.id)
        ).all()
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    train = [(st, lo) for st, lo, _ in logs if lo is not None]
    evals = [(st, ev) for st, _, ev in logs if ev is not None]
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss", lw=1.2)
    if evals:
        ax.plot(*zip(*evals, strict=True), "o-", label="validation loss", lw=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(f"train run {train_run_id}")
    ax.grid(alpha=0.3)
    if train or evals:
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


POSITION_NOTE = (
    "the judge almost always picked the same position, so its choices followed the order, not the answers; "
    "the swap turns them into ties and the win-rate says nothing. Use a stronger judge "
    "(judge.provider, e.g. --judge-provider openai)."
)


def position_bound(a_share: float | None) -> bool:
    """True when a judge picked one position in at least 90% of its judgments."""
    return a_share is not None and (a_share >= 0.9 or a_share <= 0.1)


def describe_data(d: dict[str, Any]) -> str:
    t = d.get("tokens", {})
    return (
        f"{d.get('n')} examples ({d.get('template')} template), tokens min/mean/max {t.get('min')}/"
        f"{t.get('mean')}/{t.get('max')}, {d.get('truncated')} truncated at {d.get('max_length')}, "
        f"{d.get('malformed')} malformed, {d.get('missing_eos')} without EOS"
    )


def fmt(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def write_report(store: Store, train_run_id: int, path: Path) -> Path:
    """``report.md`` next to the adapter: data, settings, loss curve, and the latest score run of the train run
    (eval set, base vs tuned with intervals, per task type, judge, example answers)."""
    with store.session() as s:
        tr = s.get(TrainRun, train_run_id)
        assert tr is not None
        ds = s.get(Dataset, tr.dataset_id)
        latest = s.scalar(select(func.max(Score.run_id)).where(Score.train_run_id == train_run_id))
        scores = list(
            s.scalars(
                select(Score)
                .where(Score.train_run_id == train_run_id, Score.run_id == latest)
                .order_by(Score.id)
            )
        )
        s.expunge_all()
    path.parent.mkdir(parents=True, exist_ok=True)
    m, c = tr.metrics or {}, tr.config or {}
    lines = [
        f"# Train run {tr.id}: {tr.method} on {ds.name}@{ds.version}" if ds else f"# Train run {tr.id}",
        "",
        f"- base model: `{tr.base_model}`; status: {tr.status}; adapter: `{tr.adapter_path}`",
        f"- LoRA r={c.get('lora_r')} alpha={c.get('lora_alpha')} dropout={c.get('lora_dropout')} "
        f"targets={c.get('target_modules')}; lr={c.get('learning_rate')} ({c.get('lr_scheduler_type')}), "
        f"precision {m.get('precision')}, optimizer {m.get('optim')}",
        f"- steps {m.get('global_step')}/{m.get('max_steps')} (stopped early: {m.get('stopped_early')}); "
        f"train loss {fmt(m.get('train_loss'))}; best validation loss {fmt(m.get('best_eval_loss'))}; "
        f"{m.get('tokens_per_second')} tokens/s; peak RSS {m.get('peak_rss_mb')} MB",
        *[f"- {split} data: {describe_data(d)}" for split, d in (m.get("data") or {}).items()],
        "",
    ]
    curve = Path(m.get("loss_curve") or "")
    if curve.exists():
        lines += [f"![loss curve]({curve.name})", ""]
    if scores:
        from finetune.score_report import score_section

        with store.session() as s:
            run = s.get(Run, latest)
            counters = dict(run.counters or {}) if run else {}
            es = s.get(EvalSet, scores[0].eval_set_id) if scores[0].eval_set_id else None
            s.expunge_all()
        info = counters.get("eval") or {}
        lines += score_section(scores, info, es, counters.get("verdict", ""), path.parent)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
