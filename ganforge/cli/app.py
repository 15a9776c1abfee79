"""The typer application and its error policy: a user's mistake is one line on stderr and
exit code 2; ``GANFORGE_DEBUG=1`` shows the traceback instead."""

from __future__ import annotations

import sys

import typer
from typer.core import TyperGroup

from ..errors import GanforgeError, debug_enabled


def one_line(message: str) -> str:
    """``message`` with control characters escaped (a user's input may hold any), so the error
    is one line on every terminal."""
    return "".join(ch.encode("unicode_escape").decode("ascii") if ch.isspace() and ch != " " or
                   (ord(ch) < 32 or 0x7f <= ord(ch) < 0xa0) else ch for ch in message)


#: Per command, its valued options (``arguments.fill_values``), filled in before typer parses.
VALUED_FLAGS: dict = {}


def report(exc: GanforgeError) -> None:
    """The one-line form of a user's mistake on stderr (nothing for a ``quiet`` one, which
    another process of a multi-process run reports)."""
    if not getattr(exc, "quiet", False):
        typer.echo(f"error: {one_line(str(exc))}", err=True)


class FriendlyErrors(TyperGroup):
    """Turns GanforgeError raised by any command into a one-line message and exit code 2."""

    def main(self, args=None, *rest, **kwargs):
        from .arguments import fill_values

        args = list(sys.argv[1:] if args is None else args)
        if args and args[0] in VALUED_FLAGS:
            try:
                args = [args[0], *fill_values(args[1:], VALUED_FLAGS[args[0]])]
            except GanforgeError as exc:
                if debug_enabled():
                    raise
                report(exc)
                sys.exit(2)
        return super().main(args, *rest, **kwargs)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except GanforgeError as exc:
            if debug_enabled():
                raise
            report(exc)
            raise typer.Exit(2) from None


app = typer.Typer(
    cls=FriendlyErrors,
    name="ganforge",
    help="Train, sample and inspect GANs built from plugins.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _register() -> None:
    from .bench import bench_app
    from .bench_train import bench_train
    from .compare import compare_command
    from .eval import eval_command
    from .info import info
    from .plugins import plugins
    from .report import report_command
    from .sample import sample
    from .train import VALUED_FLAGS as TRAIN_VALUED_FLAGS
    from .train import train

    app.command("train")(train)
    VALUED_FLAGS["train"] = TRAIN_VALUED_FLAGS
    app.command("sample")(sample)
    app.command("plugins")(plugins)
    app.command("info")(info)
    bench_app.command("train")(bench_train)
    app.add_typer(bench_app)
    app.command("eval")(eval_command)
    app.command("compare")(compare_command)
    app.command("report")(report_command)


_register()


def main() -> None:
    app()
