"""The incident type tags, their legacy names and the briefing categories, read from a data file."""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ._exceptions import IncidentError, TaxonomyError

DEFAULT_TAXONOMY_FILE = Path(__file__).with_name("taxonomy.toml")

_BRACKETED = re.compile(r"\[([^\[\]]*)\]")


def read_toml(path: Path, *, error: type[IncidentError], kind: str) -> dict:
    """A maintainers' TOML data file (``kind`` says which, in errors) as a dict; ``error`` (one of
    the project's exceptions) says, naming the file, when it is missing, cannot be read or is not
    TOML."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise error(f"{path}: no such {kind} file") from exc
    except IsADirectoryError as exc:
        raise error(f"{path}: is a directory, not a {kind} file") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid TOML: {exc}") from exc
    except OSError as exc:  # not readable: permissions, an I/O error
        raise error(f"{path}: cannot be read: {exc.strerror or exc}") from exc


def _normalise(raw: str) -> str:
    """Lower-case a tag and fold runs of blanks, so ``[CA  Compliance]`` reads ``ca compliance``."""
    return " ".join(raw.strip().lower().split())


def _strings(value: object, where: str) -> tuple[str, ...]:
    """A TOML list of strings as a tuple; anything else (a bare string too) is a TaxonomyError."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TaxonomyError(f"{where} must be a list of strings")
    return tuple(value)


@dataclass(frozen=True)
class WhiteboardTags:
    """What a whiteboard says, once normalised: type tags, meta tags and tags nobody knows."""

    types: tuple[str, ...] = ()
    meta: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()

    @property
    def all(self) -> tuple[str, ...]:
        return self.types + self.meta + self.unknown


@dataclass(frozen=True)
class Taxonomy:
    """Type tags (with aliases) and the briefing categories each counts in.

    Parameters
    ----------
    tag_categories : mapping of canonical type tag to the categories it counts in.
    aliases : mapping of legacy or odd spellings to a canonical tag (type or meta).
    meta_tags : whiteboard tags that are not incident types.
    categories : the briefing rows, in display order.
    cues : tag → regular expression of what such an incident's summary says.
    excludes : tag → tags it rules out.
    """

    tag_categories: dict[str, tuple[str, ...]]
    aliases: dict[str, str] = field(default_factory=dict)
    meta_tags: frozenset[str] = frozenset()
    categories: tuple[str, ...] = ()
    cues: dict[str, str] = field(default_factory=dict)
    excludes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Taxonomy:
        path = Path(path) if path is not None else DEFAULT_TAXONOMY_FILE
        return cls.from_dict(read_toml(path, error=TaxonomyError, kind="taxonomy"), source=str(path))

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "taxonomy") -> Taxonomy:
        try:
            categories = _strings(data["categories"]["order"], f"{source}: [categories] order")
            tags = data["tags"]
        except (KeyError, TypeError) as exc:
            raise TaxonomyError(f"{source}: needs [categories] order and [tags.*] tables") from exc
        if not isinstance(tags, dict) or not all(isinstance(s, dict) for s in tags.values()):
            raise TaxonomyError(f"{source}: [tags] must hold one [tags.<name>] table a tag")
        tag_categories: dict[str, tuple[str, ...]] = {}
        aliases: dict[str, str] = {}
        cues: dict[str, str] = {}
        excludes: dict[str, tuple[str, ...]] = {}
        for name, spec in tags.items():
            canonical = _normalise(name)
            cats = _strings(spec.get("categories", []), f"{source}: tag {name!r} categories")
            unknown = [c for c in cats if c not in categories]
            if unknown:
                raise TaxonomyError(f"{source}: tag {name!r} names unknown categories {unknown}")
            tag_categories[canonical] = cats
            for alias in _strings(spec.get("aliases", []), f"{source}: tag {name!r} aliases"):
                aliases[_normalise(alias)] = canonical
            if "cue" in spec:
                cue = spec["cue"]
                try:
                    re.compile(cue)
                except (TypeError, re.error) as exc:
                    raise TaxonomyError(f"{source}: tag {name!r} cue is not a regular "
                                        f"expression: {exc}") from exc
                control = sorted({c for c in cue if unicodedata.category(c) == "Cc"})
                if control:
                    # TOML reads "\b" in double quotes as a backspace: a cue that never matches.
                    raise TaxonomyError(
                        f"{source}: tag {name!r} cue holds the control character(s) "
                        f"{', '.join(repr(c) for c in control)}; write the pattern in single "
                        "quotes ('\\bsct'), where TOML keeps backslashes as they are")
                cues[canonical] = cue
            if "excludes" in spec:
                excludes[canonical] = tuple(_normalise(t) for t in _strings(
                    spec["excludes"], f"{source}: tag {name!r} excludes"))
        meta = data.get("meta", {})
        if not isinstance(meta, dict) or not isinstance(meta.get("aliases", {}), dict):
            raise TaxonomyError(f"{source}: [meta] must be a table with a tags list and an "
                                "aliases table")
        meta_tags = frozenset(_normalise(t) for t in _strings(meta.get("tags", []),
                                                              f"{source}: [meta] tags"))
        for alias, target in meta.get("aliases", {}).items():
            if not isinstance(target, str):
                raise TaxonomyError(f"{source}: [meta] alias {alias!r} must name a tag")
            aliases[_normalise(alias)] = _normalise(target)
        unknown_excluded = sorted({t for ts in excludes.values() for t in ts} - set(tag_categories))
        if unknown_excluded:
            raise TaxonomyError(f"{source}: excludes names unknown tags {unknown_excluded}")
        return cls(tag_categories, aliases, meta_tags, categories, cues, excludes)

    @property
    def type_tags(self) -> tuple[str, ...]:
        return tuple(self.tag_categories)

    @property
    def pools(self) -> dict[str, list[str]]:
        """The briefing categories counted from several tags, with those tags (in file order):
        the estimator's ``pools``."""
        members: dict[str, list[str]] = {}
        for tag, categories in self.tag_categories.items():
            for category in categories:
                members.setdefault(category, []).append(tag)
        return {c: tags for c, tags in members.items() if len(tags) > 1}

    def canonical(self, tag: str) -> str:
        """The canonical spelling of a tag; an unknown tag comes back normalised, not dropped."""
        norm = _normalise(tag)
        return self.aliases.get(norm, norm)

    def parse_whiteboard(self, whiteboard: str | None) -> WhiteboardTags:
        """Split a Bugzilla whiteboard into type, meta and unknown tags.

        Free text outside brackets (``Next update 2023-04-30``) is not a tag. A bracket left open
        (``[ca-compliance] audit-finding]``) still yields the tag it plainly means.
        """
        if not whiteboard:
            return WhiteboardTags()
        raw = _BRACKETED.findall(whiteboard)
        rest = _BRACKETED.sub(" ", whiteboard)
        raw += [m.group(1) for m in re.finditer(r"([\w?.-]+)\]", rest)]
        types: list[str] = []
        meta: list[str] = []
        unknown: list[str] = []
        for item in raw:
            tag = self.canonical(item)
            if not tag:
                continue
            bucket = types if tag in self.tag_categories else meta if tag in self.meta_tags else unknown
            if tag not in bucket:
                bucket.append(tag)
        return WhiteboardTags(tuple(types), tuple(meta), tuple(unknown))

    def categories_of(self, tags: Iterable[str]) -> list[str]:
        """The briefing categories a set of tags counts in, in briefing order."""
        hit = {c for t in tags for c in self.tag_categories.get(self.canonical(t), ())}
        return [c for c in self.categories if c in hit]
