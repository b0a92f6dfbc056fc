"""Charts and the Markdown report of a training run: loss curve, scores of base vs tuned, the settings used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from datagen.store.engine import Store
from datagen.store.models import Dataset, Score, TrainLog, TrainRun


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


def plot_scores(scores: list[Score], path: Path) -> Path:
    """Two panels: perplexity base vs tuned; judged win-rate of tuned with its 95% interval."""
    plt = _pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.2), dpi=100)
    by = {sc.metric: sc for sc in scores}
    ppl = by.get("perplexity")
    if ppl is not None and ppl.base_value is not None and ppl.tuned_value is not None:
        a1.bar(["base", "tuned"], [ppl.base_value, ppl.tuned_value], color=["#999999", "#3070b0"])
        a1.set_title("perplexity of reference answers (lower is better)", fontsize=9)
    wr = by.get("win_rate")
    if wr is not None and wr.tuned_value is not None:
        lo, hi = wr.ci_low or wr.tuned_value, wr.ci_high or wr.tuned_value
        a2.bar(
            ["tuned vs base"],
            [wr.tuned_value],
            yerr=[[wr.tuned_value - lo], [hi - wr.tuned_value]],
            capsize=8,
        )
        a2.axhline(0.5, color="k", lw=0.8, ls="--")
        a2.set_ylim(0, 1)
        a2.set_title("judged win-rate of tuned (95% interval)", fontsize=9)
    fig.tight_layout()
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
    """``report.md`` next to the adapter: data, settings, loss curve, scores (base vs tuned) with intervals."""
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
        lines += [
            "## Scores (held-out split)",
            "",
            "| metric | base | tuned | 95% interval | n |",
            "|---|---|---|---|---|",
        ]
        for sc in scores:
            ci = f"{fmt(sc.ci_low)} – {fmt(sc.ci_high)}" if sc.ci_low is not None else "-"
            lines.append(f"| {sc.metric} | {fmt(sc.base_value)} | {fmt(sc.tuned_value)} | {ci} | {sc.n} |")
        chart = plot_scores(scores, path.parent / "scores.png")
        lines += ["", f"![scores]({chart.name})", ""]
        pp = next((sc for sc in scores if sc.metric == "perplexity"), None)
        if pp is not None and pp.details.get("ratio_ci"):
            lo, hi = pp.details["ratio_ci"]
            lines += [
                f"Perplexity: the interval is the tuned model's; tuned/base ratio "
                f"{fmt(pp.details.get('ratio_tuned_over_base'))} (95% interval {fmt(lo)} – {fmt(hi)}; "
                f"{pp.details.get('ci_method')}).",
                "",
            ]
        wr = next((sc for sc in scores if sc.metric == "win_rate"), None)
        if wr is not None:
            d = wr.details
            lines += [
                f"Judge `{d.get('judge')}`: {d.get('wins')} wins, {d.get('losses')} losses, {d.get('ties')} ties; "
                f"it picked position A in {d.get('position_a_share', 0):.0%} of its judgments"
                + (
                    f"; position-debiased preference for tuned from its probabilities: "
                    f"{d['soft_preference_mean']:.3f} (0.5 = no preference)."
                    if d.get("soft_preference_mean") is not None
                    else "."
                ),
                "",
                f"Win-rate method: {d.get('method')}",
                "",
            ]
            if position_bound(d.get("position_a_share")):
                lines += [f"**Note:** {POSITION_NOTE}", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
