"""`incidents models list | show | promote | rollback`: the registry's versions (the store is not used)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli._shared import context, plain_table, print_table, reported_errors

if TYPE_CHECKING:
    from core.registry import ModelRegistry

app = typer.Typer(help="List, inspect, promote and roll back model versions.", no_args_is_help=True)


def _card_row(registry: ModelRegistry, version: str, active: str | None) -> tuple[str, ...]:
    card = registry.card(version)
    m = card.get("metrics", {}).get("contenders", {}).get("model", {})
    mark = "*" if version == active else " "
    return (f"{mark} {version}", card.get("created_at", "")[:19],
            f"{card.get('training_data', {}).get('size', '?')} incidents",
            f"micro-F1 {m.get('category_micro_f1', float('nan')):.3f}",
            f"macro-F1 {m.get('category_macro_f1', float('nan')):.3f}")


@app.command("list")
def models_list(invocation: typer.Context) -> None:
    """Every version, newest last; * marks the active one."""
    with reported_errors():
        registry = context(invocation).registry
        versions = registry.versions()
        active = registry.active_version()
        if not versions:
            typer.echo(f"no model versions in {registry.root}; run `incidents train`")
            return
        rows = [_card_row(registry, version, active) for version in versions]
    table = plain_table()
    table.add_column(min_width=8)  # "* v1" and "  v2": the mark, then the version
    table.add_column(min_width=19)
    table.add_column(justify="right")
    table.add_column()
    table.add_column()
    for row in rows:
        table.add_row(*row)
    print_table(table)


@app.command("show")
def models_show(invocation: typer.Context,
                version: Annotated[str, typer.Argument(help="A version such as v3.")]) -> None:
    """Print a version's model card (JSON)."""
    with reported_errors():
        card: dict[str, Any] = context(invocation).registry.card(version)
    typer.echo(json.dumps(card, indent=2))


@app.command("promote")
def models_promote(invocation: typer.Context,
                   version: Annotated[str, typer.Argument(help="The version to make active.")]) -> None:
    """Make a version active (checked to load first; the switch is atomic)."""
    with reported_errors():
        previous = context(invocation).registry.promote(version)
    typer.echo(f"active version: {version} (was {previous or 'none'})")


@app.command("rollback")
def models_rollback(invocation: typer.Context) -> None:
    """Make the previously active version active again."""
    with reported_errors():
        registry = context(invocation).registry
        current = registry.active_version()
        target = registry.rollback()
    typer.echo(f"active version: {target} (rolled back from {current})")
