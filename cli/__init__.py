"""The ``incidents`` command line: its root app and the setup every command shares (see _shared)."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from cli import classify, corrections, live, models, nightly, report, review, serve, sync, tokens, train
from cli._shared import Context, reported_errors

__all__ = ["app"]

_HELP_ONLY = "cli.help_only"


class _RootGroup(TyperGroup):
    """Notes whether the invocation only asks for help, so the setup is skipped (help stays fast
    and works whatever the settings are)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # ctx: typer's click Context
        group_alone = len(args) == 1 and isinstance(self.get_command(ctx, args[0]), TyperGroup)  # `incidents models`
        ctx.meta[_HELP_ONLY] = group_alone or any(arg in ctx.help_option_names for arg in args)
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_RootGroup, help="Classify Mozilla CA-compliance incidents.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False, rich_markup_mode="markdown")


@app.callback()
def _setup(ctx: typer.Context) -> None:
    # Once per invocation: the settings (a bad INCIDENTS_* value stops here, in one line) and the
    # model registry; the taxonomy is read when a command first needs it, and the store is
    # migrated only by a command that writes to it (Context.writable_store).
    if ctx.resilient_parsing or ctx.meta.get(_HELP_ONLY):
        return
    with reported_errors():
        ctx.obj = Context.create()


# Commands of a module without a group name join the root; the others are groups.
app.add_typer(sync.app)  # sync, db-upgrade
app.add_typer(train.app)  # train, evaluate, audit-labels, retrain, relabel
app.add_typer(classify.app)  # classify
app.add_typer(serve.app)  # serve
app.add_typer(nightly.app)  # nightly
app.add_typer(report.app)  # report
app.add_typer(review.app)  # review
models.app.command("live")(live.models_live)  # models live, from its own module
app.add_typer(models.app, name="models")
app.add_typer(tokens.app, name="tokens")
app.add_typer(corrections.app, name="corrections")
