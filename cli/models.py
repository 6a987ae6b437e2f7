"""`incidents models list | show | promote | rollback | prune | decisions`: the registry's versions, and
the retraining decisions recorded in the store (`list` shows them when the store can be read)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli._shared import JsonLines, NewestFirst, cli_user, context, plain_table, print_listing, print_table, reported_errors

if TYPE_CHECKING:
    from cli._shared import Context
    from core.registry import ModelRegistry
    from core.tables import ModelDecisionRow

app = typer.Typer(help="List, inspect, promote, roll back and prune model versions; list promotions and retraining "
                       "decisions.", no_args_is_help=True)


def _f1(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "-"


def _card_row(registry: ModelRegistry, version: str, active: str | None,
              decision: ModelDecisionRow | None = None) -> tuple[str, ...]:
    """A version's line: its held-out figures and how many incidents they are on (the time split of
    `train`, or the comparison window of `retrain`), then the retraining decision that made it."""
    from classifier import ModelError

    mark = "*" if version == active else " "
    try:
        card = registry.card(version)
    except ModelError as exc:  # listed all the same: `list` is what one diagnoses it with
        # In the last column, which nothing follows: in the time column it widened every row.
        return (f"{mark} {version}", "", "", "", "", "", f"damaged: {exc}")
    metrics = _mapping(card.get("metrics"))
    contenders = _mapping(metrics.get("contenders"))
    m = _mapping(contenders.get("model"))
    cutoff = str(metrics.get("cutoff") or "")[:10]
    compared = [name for name in contenders if name.startswith("active ")]
    if compared:  # made by `retrain`: its figures are the comparison's, on the newest incidents
        other = _mapping(contenders[compared[0]])
        source = (f"newest from {cutoff} vs {compared[0][len('active '):]} "
                  f"{_f1(other.get('category_micro_f1'))} / {_f1(other.get('category_macro_f1'))}")
    else:
        source = f"held out from {cutoff}" if cutoff else ""
    if decision is not None:
        outcome = "promoted" if decision.promoted else "kept"
        if not (decision.challenger_metrics or {}).get("holdout_size"):
            outcome += ", not compared"
        source += (f"{'; ' if source else ''}retrain #{decision.id}: {outcome}"
                   f"{' (forced)' if decision.forced else ''}")
    return (f"{mark} {version}", str(card.get("created_at", ""))[:19],
            f"{_mapping(card.get('training_data')).get('size', '?')} incidents",
            f"micro-F1 {_f1(m.get('category_micro_f1'))}",
            f"macro-F1 {_f1(m.get('category_macro_f1'))}",
            f"(n={metrics.get('test_size', '?')})", source)


def _mapping(value: Any) -> dict[str, Any]:
    """``value`` when a card's field is the object it should be, else empty (a card edited by
    hand is listed with what it has)."""
    return value if isinstance(value, dict) else {}


def _card_or_none(registry: ModelRegistry, version: str) -> dict[str, Any] | None:
    from classifier import ModelError

    try:
        return registry.card(version)
    except ModelError:
        return None


def _created(card: dict[str, Any] | None) -> datetime:
    """A card's creation time (aware; the oldest time when it has none or a broken one)."""
    try:
        moment = datetime.fromisoformat(str((card or {}).get("created_at")))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _recorded_decisions(ctx: Context, versions: list[str]) -> dict[str, ModelDecisionRow]:
    """The retraining decision behind each version, when the store can be read (else none: the
    versions are listed all the same, with a note on stderr)."""
    from sqlalchemy.exc import SQLAlchemyError

    from classifier import IncidentError
    from core.decisions import decisions_of
    from core.text import first_line

    try:
        with ctx.reading() as session:
            return {} if session is None else decisions_of(session=session, versions=versions)
    except (IncidentError, SQLAlchemyError) as exc:
        typer.echo(f"note: retraining decisions not shown: {first_line(exc)}", err=True)
        return {}


@app.command("list")
def models_list(invocation: typer.Context) -> None:
    """Every version, newest last; * marks the active one.

    Each with its held-out category micro- and macro-F1 and the number of incidents behind them
    (n): the time split at INCIDENTS_EVAL_CUTOFF for `incidents train`, the comparison window for
    `incidents retrain` (with the active model's figures on it, and the recorded decision).
    """
    from classifier import ModelError

    with reported_errors():
        ctx = context(invocation)
        registry = ctx.registry
        versions = registry.versions()
        try:
            active = registry.active_version()
        except ModelError as exc:  # ACTIVE not text: the versions are still listed
            typer.echo(f"note: {exc}; none is marked active", err=True)
            active = None
        if not versions:
            missing = "" if registry.root.is_dir() else " (no such folder: is INCIDENTS_MODELS_DIR the service's?)"
            typer.echo(f"no model versions in {registry.root}{missing}; run `incidents train`")
            return
        if active is not None and active not in versions:
            typer.echo(f"note: ACTIVE names {active!r}, which is not a version here, so none is "
                       "marked active (the service keeps what it loaded); make one active with "
                       "`incidents models promote VERSION`", err=True)
        decisions = _recorded_decisions(ctx, versions)
        rows = []
        for version in versions:
            decision = decisions.get(version)
            # A decision older than the version is about another one of the same name (a models
            # folder started afresh on the same store).
            if decision is not None and decision.created_at < _created(_card_or_none(registry, version)):
                decision = None
            rows.append(_card_row(registry, version, active, decision))
    table = plain_table()
    table.add_column(min_width=8)  # "* v1" and "  v2": the mark, then the version
    table.add_column(min_width=19)
    table.add_column(justify="right")
    table.add_column()
    table.add_column()
    table.add_column(justify="right")
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
        previous = context(invocation).registry.promote(version, by=cli_user())
    typer.echo(f"active version: {version} (was {previous or 'none'})")


@app.command("rollback")
def models_rollback(invocation: typer.Context) -> None:
    """Make the previously active version active again."""
    with reported_errors():
        registry = context(invocation).registry
        current = registry.active_version()
        target = registry.rollback(by=cli_user())
    typer.echo(f"active version: {target} (rolled back from {current})")


@app.command("history")
def models_history(
    invocation: typer.Context,
    limit: NewestFirst = 20,
    as_json: JsonLines = False,
) -> None:
    """The promotions and rollbacks of models/history.jsonl, newest first: when, what became
    active and what it replaced, who asked and why (retrainings' decisions: `models decisions`)."""
    with reported_errors():
        entries = context(invocation).registry.history()
    print_listing(
        entries[::-1][:limit], total=len(entries), as_json=as_json,
        empty="no promotion or rollback recorded; the first `incidents train` records one",
        columns=("time", "kind", "active", "was", "by", "why"),
        row=lambda entry: (str(entry.get("at", ""))[:19], str(entry.get("kind", "")),
                           str(entry.get("active", "")), str(entry.get("previous") or "-"),
                           str(entry.get("by") or "-"), str(entry.get("reason") or "")))


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.1f} MiB"


@app.command("prune")
def models_prune(
    invocation: typer.Context,
    keep: Annotated[int, typer.Option(min=1, help="How many of the newest versions to keep.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would go; delete nothing.")
                       ] = False,
) -> None:
    """Delete old versions: every one but the active one, those `rollback` could return to, and
    the newest --keep (a version takes about 28 MB)."""
    with reported_errors():
        registry = context(invocation).registry
        candidates = registry.prunable(keep)
        sizes = {version: registry.size(version) for version in candidates}
        removed = candidates if dry_run else registry.prune(keep)
    verb = "would remove" if dry_run else "removed"
    for version in removed:
        typer.echo(f"{verb} {version} ({sizes.get(version, 0):,} bytes)")
    freed = sum(sizes.get(version, 0) for version in removed)
    kept = [v for v in registry.versions() if v not in removed] if dry_run else registry.versions()
    summary = (f"{'would free' if dry_run else 'freed'} {freed:,} bytes ({_size(freed)}) in "
               f"{len(removed)} version{'s' if len(removed) != 1 else ''}")
    typer.echo(f"{summary}; kept {', '.join(kept) or 'none'} (active: "
               f"{registry.active_version() or 'none'})")


def decision_fields(row: ModelDecisionRow) -> dict[str, Any]:
    """A recorded decision as `models decisions --json` prints it (GET /models/decisions' shape)."""
    from core.decisions import decision_as_dict

    fields = decision_as_dict(row)
    return {**fields, "created_at": row.created_at.isoformat()}


@app.command("decisions")
def models_decisions(
    invocation: typer.Context,
    limit: NewestFirst = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print them as JSON ({data, count}).")
                       ] = False,
) -> None:
    """The recorded retraining decisions, newest first: the challenger, the active version before
    and after, promoted or kept (forced or not), why, the comparison window's size, who asked."""
    from core.decisions import active_after, list_decisions

    with reported_errors():
        with context(invocation).reading() as session:  # a store never migrated holds none
            rows, count = ([], 0) if session is None else list_decisions(session=session, limit=limit)
            data = [decision_fields(row) for row in rows]
            lines = [(str(row.id), row.created_at.isoformat(timespec="seconds"), row.challenger or "-",
                      row.active_before or "-", active_after(row) or "-",
                      "promoted" if row.promoted else "kept", "forced" if row.forced else "-",
                      str((row.challenger_metrics or {}).get("holdout_size", "-")),
                      row.requested_by or "-", row.reason)
                     for row in rows]
    if as_json:
        typer.echo(json.dumps({"data": data, "count": count}, indent=2))
        return
    if not lines:
        typer.echo("no retraining decisions recorded; `incidents retrain` records one each time")
        return
    table = plain_table(header=True)
    for name in ("id", "time", "challenger", "before", "after", "decision", "forced", "holdout",
                 "requested by", "reason"):
        table.add_column(name, justify="right" if name in ("id", "holdout") else "left")
    for line in lines:
        table.add_row(*line)
    print_table(table)
    if count > len(lines):
        typer.echo(f"({len(lines)} of {count}; --limit shows more)")
