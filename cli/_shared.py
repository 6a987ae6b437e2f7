"""What every command shares: the invocation's Context, the store's migration, one-line errors, tables,
the status line of long commands."""

from __future__ import annotations

import getpass
import io
import json
import re
import sys
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from pydantic import ValidationError
    from rich.table import Table
    from sqlalchemy.orm import Session

    from classifier import Taxonomy
    from core.config import Settings
    from core.jobs import JobLock
    from core.registry import ModelRegistry


def cli_user() -> str:
    """Who a write from the command line is recorded as made by: the system user running it
    (the CLI holds no token; whoever runs it has the store and the models folder)."""
    try:
        return f"{getpass.getuser()} (cli)"
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return "cli"


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def _one_line(exc: ValidationError) -> str:
    """A pydantic ValidationError in one line; a setting is named by its environment variable."""
    problems = []
    settings = exc.title in ("Settings", "ServiceSettings")
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error["loc"]]
        if settings and loc:
            loc[0] = f"INCIDENTS_{loc[0].upper()}"
        problems.append(f"{'.'.join(loc)}: {error['msg']}" if loc else error["msg"])
    what = "settings" if settings else exc.title
    return f"{what}: {'; '.join(problems)}"


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn the project's own errors into one line on stderr and a non-zero exit."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError
    from sqlalchemy.exc import SQLAlchemyError

    from classifier import IncidentError
    from core.config import get_settings
    from core.db import safe_url
    from core.text import first_line

    try:
        yield
    except ValidationError as exc:
        raise fail(_one_line(exc)) from None
    except SettingsError as exc:  # an INCIDENTS_* value of a list setting that is not JSON
        named = re.search(r'field "(\w+)"', str(exc))
        raise fail(f"settings: INCIDENTS_{named.group(1).upper()}: not a JSON list; write it as "
                   '["first", "second"]' if named else f"settings: {exc}") from None
    except IncidentError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(_os_error(exc)) from None
    except SQLAlchemyError as exc:  # the store is unreachable, refuses us, or the URL is wrong
        raise fail(f"store ({safe_url(get_settings().database_url)}): {first_line(exc)}") from None
    except OverflowError as exc:  # a last resort: a number no check bounded (SQLite's 64 bits, a date)
        raise fail(f"a value out of range: {exc}") from None


def _os_error(exc: OSError) -> str:
    """An OSError in words: the file and why, without Python's "[Errno 13]"; a file written
    aside to be renamed into place (``core.files``: its name starts with a dot) is named by its
    folder."""
    if exc.filename is None or exc.strerror is None:
        return str(exc)
    path = Path(str(exc.filename))
    if path.name.startswith("."):
        return f"cannot write in {path.parent}: {exc.strerror}"
    return f"{path}: {exc.strerror}"


def _schema_is_newest(url: str) -> bool:
    """Whether the store at ``url`` has had the newest migration, found without changing it.

    False when it was never migrated (it has no tables, so it holds nothing; a SQLite file that
    does not exist is not created); StoreUnavailable when it is at another migration.
    """
    from alembic.script import ScriptDirectory

    from classifier import StoreUnavailable
    from core.db import (
        alembic_config,
        newer_store,
        require_sqlite_folder,
        safe_url,
        sqlite_file,
        store_revisions,
        unknown_revisions,
    )

    require_sqlite_folder(url)
    path = sqlite_file(url)
    if path is not None and not path.exists():
        return False
    current = store_revisions(url)
    if not current:
        return False
    newest = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    if current == newest:
        return True
    unknown = unknown_revisions(url)
    if unknown:
        raise StoreUnavailable(newer_store(url, unknown))
    raise StoreUnavailable(f"store ({safe_url(url)}) is at migration {', '.join(sorted(current))}, not at "
                           f"{', '.join(sorted(newest))}: run `incidents db-upgrade`")


@dataclass(frozen=True)
class Context:
    """One invocation's settings and model registry, its taxonomy (read once, when first used), and
    its store: migrated once, by the first command that writes to it; never by one that only reads."""

    settings: Settings
    registry: ModelRegistry
    _migrated: set[str] = field(default_factory=set, repr=False, compare=False)

    @classmethod
    def create(cls) -> Context:
        from core.config import get_settings
        from core.registry import ModelRegistry

        settings = get_settings()
        return cls(settings=settings, registry=ModelRegistry(settings.models_dir))

    @cached_property
    def taxonomy(self) -> Taxonomy:
        from classifier import Taxonomy

        return Taxonomy.load(self.settings.taxonomy_file)

    def writable_store(self) -> str:
        """The store's URL, brought to the newest migration first (once per invocation)."""
        from core.db import upgrade

        url = self.settings.database_url
        if url not in self._migrated:
            upgrade(url)
            self._migrated.add(url)
        return url

    def job_lock(self, kind: str, requested_by: str | None = None) -> JobLock:
        """The store's lock of a long job (retrain, sync, relabel), to hold with ``with``: the
        same kind runs once, whichever process starts it (JobRunning names who holds it)."""
        from core.jobs import JobLock, describe_holder

        return JobLock(self.writable_store(), kind,
                       holder=describe_holder(requested_by or cli_user(), f"incidents {kind}"))

    @contextmanager
    def reading(self) -> Iterator[Session | None]:
        """A session on the store for a command that only reads it; the store is not migrated.

        None when the store was never migrated: it has no tables, so it holds nothing. A store at
        an older migration is an error (StoreUnavailable) saying to run `incidents db-upgrade`.
        """
        from core.db import session_scope

        url = self.settings.database_url
        if url not in self._migrated and not _schema_is_newest(url):
            yield None
            return
        with session_scope(url) as session:
            yield session


def context(invocation: typer.Context) -> Context:
    """The invocation's Context, made by the app's callback (or now, when the callback skipped it)."""
    root = invocation.find_root()
    if not isinstance(root.obj, Context):
        with reported_errors():
            root.obj = Context.create()
    return root.obj


def _is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # no such method, or a closed stream
        return False


#: The --limit of a list shown newest first.
NewestFirst = Annotated[int, typer.Option(min=1, help="How many, newest first.")]
#: The --json of a list printed by :func:`print_listing`.
JsonLines = Annotated[bool, typer.Option("--json", help="One JSON object a line, as recorded.")]


def print_listing(records: Sequence[dict[str, Any]], *, total: int, as_json: bool, empty: str,
                  columns: Sequence[str], row: Callable[[dict[str, Any]], Sequence[str]],
                  right: Collection[str] = ()) -> None:
    """A list shown newest first: one JSON object a line (``as_json``), else ``empty`` when there
    is nothing, else a table of ``columns`` (those in ``right`` aligned right), one ``row`` a
    record, and how many of ``total`` were left out."""
    if as_json:
        for record in records:
            typer.echo(json.dumps(record))
        return
    if not records:
        typer.echo(empty)
        return
    table = plain_table(header=True)
    for name in columns:
        table.add_column(name, justify="right" if name in right else "left")
    for record in records:
        table.add_row(*row(record))
    print_table(table)
    if total > len(records):
        typer.echo(f"({len(records)} of {total}; --limit shows more)")


def print_table(table: Table) -> None:
    """Print a rich table on stdout: styled on a terminal; elsewhere plain text, never wrapped,
    without colours or trailing blanks."""
    from rich.console import Console

    if _is_terminal():
        terminal = Console(markup=False, emoji=False, highlight=False)
        # Never squeeze cells (a timestamp cut to "2026-11-27T11:07…"): a wider table overflows.
        natural = terminal.measure(table, options=terminal.options.update_width(100_000)).maximum
        terminal.width = max(terminal.width, natural)
        terminal.print(table)
        return
    console = Console(file=io.StringIO(), force_terminal=False, color_system=None, width=100_000,
                      markup=False, emoji=False, highlight=False)
    console.print(table)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    typer.echo("\n".join(line.rstrip() for line in text.splitlines()))


def plain_table(*, header: bool = False) -> Table:
    """A table without borders, columns two spaces apart; a header row only when asked for."""
    from rich.table import Table

    return Table(box=None, show_header=header, header_style="bold", show_edge=False, pad_edge=False,
                 padding=(0, 2, 0, 0))


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # no such method, or a closed stream
        return False


def stamped(line: str) -> str:
    """A line of a run's log: the UTC time it was written, then ``line``."""
    return f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} {line}"


class StatusLine:
    """A status line on stderr while a long command works (`train`, `retrain`, `report`), from
    its first second: a spinner, what it is doing and the time so far, drawn on a terminal.

    Elsewhere (a pipe, cron, a CI log) it says nothing, so the command's output comes alone;
    with ``log`` (the commands that run for minutes) it writes each step as a timestamped line on
    stderr instead, so a log shows how far a run got and where its time went.
    """

    def __init__(self, first: str, *, log: bool = False) -> None:
        self.first, self.log = first, log
        self._progress: Any = None
        self._task: Any = None
        self._last: str | None = None

    def _log_line(self, message: str) -> None:
        if message != self._last:
            self._last = message
            typer.echo(stamped(message), err=True)

    def __enter__(self) -> Callable[[str], None]:
        if not _stderr_is_terminal():
            if self.log:
                self._log_line(self.first)
                return self._log_line
            return lambda _message: None
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                  TimeElapsedColumn(), transient=True, redirect_stdout=False,
                                  redirect_stderr=False,
                                  console=Console(stderr=True, force_terminal=True, highlight=False))
        self._progress.start()
        self._task = self._progress.add_task(f"{self.first} ...", total=None)
        self._progress.refresh()  # at once, not at the first tick
        return self.update

    def update(self, message: str) -> None:
        self._progress.update(self._task, description=f"{message} ...", refresh=True)

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
