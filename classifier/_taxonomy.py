"""The incident type tags, their legacy names and the briefing categories, read from a data file."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ._exceptions import TaxonomyError

DEFAULT_TAXONOMY_FILE = Path(__file__).with_name("taxonomy.toml")

_BRACKETED = re.compile(r"\[([^\[\]]*)\]")


def _normalise(raw: str) -> str:
    """Lower-case a tag and fold runs of blanks, so ``[CA  Compliance]`` reads ``ca compliance``."""
    return " ".join(raw.strip().lower().split())


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
    """

    tag_categories: dict[str, tuple[str, ...]]
    aliases: dict[str, str] = field(default_factory=dict)
    meta_tags: frozenset[str] = frozenset()
    categories: tuple[str, ...] = ()

    @classmethod
    def load(cls, path: str | Path | None = None) -> Taxonomy:
        path = Path(path) if path is not None else DEFAULT_TAXONOMY_FILE
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise TaxonomyError(f"{path}: no such taxonomy file") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise TaxonomyError(f"{path}: not valid TOML: {exc}") from exc
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "taxonomy") -> Taxonomy:
        try:
            categories = tuple(data["categories"]["order"])
            tags = data["tags"]
        except (KeyError, TypeError) as exc:
            raise TaxonomyError(f"{source}: needs [categories] order and [tags.*] tables") from exc
        tag_categories: dict[str, tuple[str, ...]] = {}
        aliases: dict[str, str] = {}
        for name, spec in tags.items():
            canonical = _normalise(name)
            cats = tuple(spec.get("categories", ()))
            unknown = [c for c in cats if c not in categories]
            if unknown:
                raise TaxonomyError(f"{source}: tag {name!r} names unknown categories {unknown}")
            tag_categories[canonical] = cats
            for alias in spec.get("aliases", ()):
                aliases[_normalise(alias)] = canonical
        meta = data.get("meta", {})
        meta_tags = frozenset(_normalise(t) for t in meta.get("tags", ()))
        for alias, target in meta.get("aliases", {}).items():
            aliases[_normalise(alias)] = _normalise(target)
        return cls(tag_categories, aliases, meta_tags, categories)

    @property
    def type_tags(self) -> tuple[str, ...]:
        return tuple(self.tag_categories)

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
