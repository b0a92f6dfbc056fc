"""The ``datagen`` command: a group whose subcommands are imported only when called (``--help`` is instant).

Exit codes: 0 ok, 1 failure, 2 usage or input error, 3 partial (requests failed; rerun retries them), 4 budget
stop, 130 Ctrl-C, 143 SIGTERM (README: "Exit codes").
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import warnings
from typing import Any, NoReturn

import click

from datagen import __version__
from datagen.commands.group import ARGV_KEY, Group, hoist_root_options

# name -> (module:attribute, one-line help). Add a command here when it works; never as a stub.
COMMANDS: dict[str, tuple[str, str]] = {
    "import": (
        "datagen.commands.import_cmd:import_cmd",
        "Import seeds or examples (Self-Instruct, JSONL, Alpaca, ChatML).",
    ),
    "runs": ("datagen.commands.inspect:runs_cmd", "List runs with their status, counters and cost."),
    "show": ("datagen.commands.inspect:show_cmd", "Show a record with its lineage, verdicts and reviews."),
    "stats": ("datagen.commands.inspect:stats_cmd", "Counts by status, method, operation and filter reason."),
    "models": (
        "datagen.commands.models_cmd:models_cmd",
        "List the default models, where they resolve, if cached.",
    ),
    "db": ("datagen.commands.db_cmd:db_cmd", "Database schema: upgrade, current."),
    "pipeline": (
        "datagen.commands.pipeline_cmd:pipeline_cmd",
        "The whole loop, seeds to scored model; resumable.",
    ),
    "generate": (
        "datagen.commands.generate:generate_cmd",
        "Generate records: self-instruct (seeds -> new tasks) or evol (evolve existing records).",
    ),
    "filter": (
        "datagen.commands.filter:filter_cmd",
        "Run the filter chain; store verdicts; report per filter.",
    ),
    "train": ("datagen.commands.train:train_cmd", "Fine-tune a LoRA/QLoRA adapter on a dataset version."),
    "score": (
        "datagen.commands.score:score_cmd",
        "Score a train run against its base on an eval set (builtin, a file, a dataset).",
    ),
    "compare": (
        "datagen.commands.compare:compare_cmd",
        "Train dataset versions alike, score them on one eval set, compare.",
    ),
    "review": ("datagen.commands.review:review_cmd", "Review a sample; export-sheet, import, stats."),
    "dataset": ("datagen.commands.dataset:dataset_cmd", "Create (gated by review), list and show datasets."),
    "export": ("datagen.commands.export:export_cmd", "Export a dataset: JSONL, Alpaca, ChatML, HF + card."),
    "worker": ("datagen.commands.worker:worker_cmd", "Share the requests of a run started with --workers."),
}


class LazyGroup(Group):
    """The root group: commands imported when called; its options also accepted after the subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[ARGV_KEY] = tuple(args)
        return super().parse_args(ctx, hoist_root_options(self, ctx, args))

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        target, _ = COMMANDS[cmd_name]
        module, attr = target.split(":")
        cmd = getattr(importlib.import_module(module), attr)
        assert isinstance(cmd, click.Command)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110}
)
@click.version_option(__version__, prog_name="datagen")
@click.option(
    "--db", envvar="DATAGEN_DB", help="SQLAlchemy URL or SQLite path (default ./datagen.db; env DATAGEN_DB)."
)
@click.option(
    "--quiet", is_flag=True, help="No progress bars, heartbeat or notes (results and errors still shown)."
)
@click.option("--log-json", metavar="FILE", help="Append progress events (JSON lines) to FILE.")
@click.pass_context
def cli(ctx: click.Context, db: str | None, quiet: bool, log_json: str | None) -> None:
    """datagen: generate, filter, review, version, export and fine-tune on synthetic instruction data."""
    from datagen import progress

    progress.configure(quiet, log_json)  # an unwritable FILE is exit 2, before any work
    ctx.obj = {"db": db}


def main(argv: list[str] | None = None) -> Any:
    from datagen import progress
    from datagen.console import alert
    from datagen.errors import DatagenError, Terminated
    from datagen.urls import masked, masked_log_records

    # Our own bars show progress; the libraries' per-load bars ("Loading weights", dataset maps) are noise.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # Diagnostics go through `logging` (a logger per module); DATAGEN_LOG_LEVEL=DEBUG shows them all.
    level = os.environ.get("DATAGEN_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(
        level=level if level in logging.getLevelNamesMapping() else "WARNING",
        format="%(levelname)s %(name)s: %(message)s",
    )
    masked_log_records()  # a URL in a log line shows no password, whichever handler writes it
    # bitsandbytes logs a warning on import about an optional CPU kernel package; the 4-bit path works without.
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    # Warnings meant for the user (an unknown price, a weak judge) read as one line, not as a source listing.
    shown, warnings.showwarning = warnings.showwarning, _show_warning

    signalled: list[int] = []

    def terminate(signum: int, _frame: Any) -> None:
        signalled.append(signum)
        raise Terminated

    def ctrl_c(signum: int, _frame: Any) -> None:
        signalled.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    previous_int = signal.signal(signal.SIGINT, ctrl_c)

    try:
        rv = cli.main(args=argv, prog_name="datagen", standalone_mode=False)
        if isinstance(rv, int) and rv:  # click hands back an Exit's code (exit 3 after a partial run)
            sys.exit(rv)
        return rv
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Abort as e:  # click turns Ctrl-C (and our SIGTERM) into Abort
        # a training rank other than 0 (torchrun's RANK) leaves the message to rank 0: the user sees it once
        rank0 = os.environ.get("RANK", "0") == "0"
        if isinstance(e.__cause__, Terminated):
            if rank0:
                alert("terminated; rerun the same command to resume")
            _exit_now(143) if signalled else sys.exit(143)
        if isinstance(e.__cause__, KeyboardInterrupt):
            if rank0:
                alert("interrupted; rerun the same command to resume")
            _exit_now(130) if signalled else sys.exit(130)
        alert("aborted")
        sys.exit(1)
    except DatagenError as e:
        alert(f"error: {masked(str(e))}")
        sys.exit(e.exit_code)
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        warnings.showwarning = shown
        progress.configure()  # closes the --log-json file


def _show_warning(message: Warning | str, category: type[Warning], *_args: Any, **_kwargs: Any) -> None:
    from datagen.console import alert

    alert(f"warning: {message}")


def _exit_now(code: int) -> NoReturn:
    """Exit at once after a signal: everything is written by now, and the interpreter's teardown (torch's
    above all) can take seconds on a busy machine, past the 2 s a signal is answered in."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
