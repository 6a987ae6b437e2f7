"""The CAs as the briefing names them, merged across aliases and renames, read from a data file.

An incident's CA is the name its summary gives before the first colon (``ca_name``, stored in
lower case). The CA names file (``ca_names.toml``, setting ``ca_names_file``) maps such names to
one CA each, shown as the CA writes itself (``comodo`` and ``sectigo`` are ``Sectigo``); a name
the file does not list is its own CA, shown as most of its incidents' summaries write it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from classifier import CANamesError, ca_written_in_summary, read_toml

from .tables import IncidentRow

DEFAULT_CA_NAMES_FILE = Path(__file__).with_name("ca_names.toml")

#: Shown for incidents whose summary names no CA.
NO_CA = "(no CA named)"

_ENTRY_KEYS = {"name", "aliases", "note"}


def ca_key(name: str) -> str:
    """How names are compared: lower case, blanks folded, one blank either side of ``/``."""
    return " ".join(re.sub(r"\s*/\s*", " / ", name.strip().lower()).split())


@dataclass(frozen=True)
class CAEntry:
    """One CA of the file: its display name, the names it is merged from, and why."""

    name: str
    aliases: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class CANames:
    """The CA names file: display names by the names incidents are filed under.

    Parameters
    ----------
    entries : the file's CAs, in its order.
    """

    entries: tuple[CAEntry, ...] = ()
    _by_key: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for entry in self.entries:
            for key in (ca_key(entry.name), *(ca_key(a) for a in entry.aliases)):
                self._by_key.setdefault(key, entry.name)

    @classmethod
    def load(cls, path: str | Path | None = None) -> CANames:
        """Read and check a CA names file (the shipped one by default); CANamesError says what is wrong."""
        path = Path(path) if path is not None else DEFAULT_CA_NAMES_FILE
        return cls.from_dict(read_toml(path, error=CANamesError, kind="CA names"), source=str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, object], *, source: str = "CA names") -> CANames:
        unknown = sorted(set(data) - {"ca"})
        if unknown:
            raise CANamesError(f"{source}: unknown table(s) {unknown}; each CA is a [[ca]] table")
        raw = data.get("ca", [])
        if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
            raise CANamesError(f"{source}: 'ca' must be [[ca]] tables, one a CA")
        entries: list[CAEntry] = []
        owner: dict[str, tuple[int, str]] = {}
        for index, spec in enumerate(raw):
            where = f"{source}: ca[{index}]"
            name = spec.get("name")
            if not isinstance(name, str) or not name.strip():
                raise CANamesError(f"{where}: 'name' must be a non-empty string")
            where = f"{where} ({name})"
            extra = sorted(set(spec) - _ENTRY_KEYS)
            if extra:
                raise CANamesError(f"{where}: unknown key(s) {extra}; expected name, aliases, note")
            aliases = spec.get("aliases", [])
            if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip()
                                                        for a in aliases):
                raise CANamesError(f"{where}: 'aliases' must be a list of non-empty strings")
            note = spec.get("note", "")
            if not isinstance(note, str):
                raise CANamesError(f"{where}: 'note' must be a string")
            for alias in (name, *aliases):
                key = ca_key(alias)
                if key in owner and owner[key][0] != index:
                    other, other_name = owner[key]
                    raise CANamesError(f"{where}: {alias!r} already belongs to ca[{other}] "
                                       f"({other_name}); a name belongs to one CA only")
                owner[key] = (index, name)
            entries.append(CAEntry(" ".join(name.split()), tuple(aliases), note))
        return cls(tuple(entries))

    def listed(self, ca_name: str) -> str | None:
        """The display name of the file's CA that ``ca_name`` belongs to, or None."""
        return self._by_key.get(ca_key(ca_name))

    def display_names(self, written: Iterable[tuple[str, str]]) -> dict[str, str]:
        """The CA each stored ``ca_name`` is shown as, from ``(ca_name, as written)`` pairs.

        A name the file lists is its CA's display name; another is the form most of its pairs
        write (the first of equally common ones); an empty name is :data:`NO_CA`.
        """
        forms: dict[str, Counter[str]] = {}
        names: set[str] = set()
        for ca_name, as_written in written:
            names.add(ca_name)
            if self.listed(ca_name) is None and ca_name:
                forms.setdefault(ca_key(ca_name), Counter())[as_written or ca_name] += 1
        shown: dict[str, str] = {}
        for ca_name in names:
            listed = self.listed(ca_name)
            if listed is not None:
                shown[ca_name] = listed
            elif not ca_name:
                shown[ca_name] = NO_CA
            else:
                shown[ca_name] = forms[ca_key(ca_name)].most_common(1)[0][0]
        return shown

    def same_ca(self, ca: str, stored: Iterable[str]) -> list[str]:
        """The ``stored`` CA names that are the CA ``ca`` (a display name, an alias, or a name
        the file does not list), compared as :func:`ca_key` does."""
        wanted = self.listed(ca) or ca_key(ca)
        return [name for name in stored if (self.listed(name) or ca_key(name)) == wanted]


def shown_ca_names(*, session: Session, ca_names: CANames | None, stored: Iterable[str]) -> dict[str, str]:
    """How each of the ``stored`` CA names is shown: the CA names file's name, else the form most
    of the store's incidents of that name write (the newest of equally common ones)."""
    names = set(stored)
    catalogue = ca_names or CANames()
    # Only a name the file does not list needs the summaries (its most written form): showing
    # one DigiCert bug read the summaries of all its thousands.
    unlisted = {name for name in names if name and catalogue.listed(name) is None}
    rows = session.execute(select(IncidentRow.ca_name, IncidentRow.summary)
                           .where(IncidentRow.ca_name.in_(unlisted)).order_by(IncidentRow.id.desc())
                           ) if unlisted else ()
    shown = catalogue.display_names((ca_name, ca_written_in_summary(summary)) for ca_name, summary in rows)
    return {name: (catalogue.listed(name) or shown.get(name, name)) if name else NO_CA for name in names}


@lru_cache(maxsize=8)
def _load(path: str, _mtime_ns: int, _size: int) -> CANames:
    return CANames.load(path)


def current_ca_names(path: str | Path) -> CANames:
    """The CA names of ``path`` as the file is now: read again only when it changed, so a
    maintainer's edit reaches the next request of a running service."""
    target = Path(path)
    try:
        stat = target.stat()
    except FileNotFoundError as exc:
        raise CANamesError(f"{target}: no such CA names file") from exc
    except OSError as exc:
        raise CANamesError(f"{target}: cannot be read: {exc.strerror or exc}") from exc
    return _load(str(target), stat.st_mtime_ns, stat.st_size)
