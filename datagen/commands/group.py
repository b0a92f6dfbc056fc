"""Command-line habits shared by every command group: a mistyped command is answered with the closest one
(``No such command 'filtr'. Did you mean 'filter'?``), and the root's options (``--db`` and any added later)
are accepted after the subcommand too (``datagen runs --db X`` is ``datagen --db X runs``)."""

from __future__ import annotations

import difflib

import click

ARGV_KEY = "datagen.argv"  # ctx.meta[ARGV_KEY]: the command line as given (which alias of a flag was typed)


class Group(click.Group):
    """A click group whose unknown-command error names the closest command (every group of ``datagen`` is
    one; ``tests/test_cli_habits.py`` checks)."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = click.utils.make_str(args[0]) if args else ""
        typed = bool(name) and not name.startswith("-") and not ctx.resilient_parsing
        if typed and self.get_command(ctx, name) is None:
            close = difflib.get_close_matches(name, self.list_commands(ctx), n=1)
            ctx.fail(f"No such command '{name}'." + (f" Did you mean '{close[0]}'?" if close else ""))
        return super().resolve_command(ctx, args)


def _options(cmd: click.Command) -> dict[str, click.Option]:
    """Every spelling of ``cmd``'s options (``--db``, ``--x/--no-x``, ``-n``) -> its option."""
    return {name: p for p in cmd.params if isinstance(p, click.Option) for name in p.opts + p.secondary_opts}


def _width(opt: click.Option, token: str) -> int:
    """How many tokens ``token`` (an option) takes with its values."""
    return 1 if opt.is_flag or opt.count or "=" in token else 1 + max(opt.nargs, 1)


def hoist_root_options(root: click.Group, ctx: click.Context, args: list[str]) -> list[str]:
    """``args`` with the root's options that come after the subcommand moved before it.

    An option is moved only where the subcommand (or a group on the way to it) has no option of that name,
    with its value; eager options (``--help``, ``--version``) and everything after ``--`` stay where they are.
    """
    roots = {k: o for k, o in _options(root).items() if not o.is_eager}
    i = 0
    while i < len(args) and args[i].split("=", 1)[0] in roots:  # the root's options given before the command
        i += _width(roots[args[i].split("=", 1)[0]], args[i])
    if i >= len(args) or args[i].startswith("-"):
        return args
    cmd = root.get_command(ctx, args[i])
    if cmd is None:
        return args
    moved: list[str] = []
    rest: list[str] = [args[i]]
    j = i + 1
    while j < len(args):
        token = args[j]
        name = token.split("=", 1)[0]
        own = _options(cmd)
        if token == "--":
            rest += args[j:]
            break
        if name in roots and name not in own:
            n = _width(roots[name], token)
            if j + n > len(args):
                raise click.BadOptionUsage(name, f"Option '{name}' requires an argument.", ctx)
            moved += args[j : j + n]
            j += n
            continue
        n = _width(own[name], token) if name in own else 1
        if isinstance(cmd, click.Group) and not token.startswith("-"):
            cmd = cmd.get_command(ctx, token) or cmd
        rest += args[j : j + n]
        j += n
    return args[:i] + moved + rest
