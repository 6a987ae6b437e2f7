"""Text every store back end keeps the same way, and stored text shown safely: on one line of a
log or a terminal (``printable``), in Markdown (``markdown_text``)."""

from __future__ import annotations

import re

#: Characters that would end or forge a log line, or drive a terminal (ESC sequences clear the
#: screen, set its title, write the clipboard); a path is decoded: %0a is a line break.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: What Markdown (and the HTML it lets through) would read as markup in a name.
_MARKUP = re.compile(r"([\\`*_\[\]<>])")

#: Why a text with a lone surrogate is refused (JSON's "\ud800", or bytes of an argument that
#: were not UTF-8, which Python keeps as surrogates): no back end can encode it.
NOT_UNICODE = "contains a character that is not valid Unicode (a lone surrogate, or bytes that were not UTF-8)"


def is_unicode(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8 (SQLite and PostgreSQL both need it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unstorable(text: str) -> str | None:
    """Why ``text`` would be stored by one back end and refused by another (PostgreSQL refuses
    NUL) or by both (a lone surrogate), as the end of a sentence naming it; None when it can be."""
    if "\x00" in text:
        return "contains a NUL character"
    return None if is_unicode(text) else NOT_UNICODE


def printable(text: str) -> str:
    """``text`` for one line of a log or a terminal: control characters and line separators
    escaped (``\\n``, ``\\x1b``)."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def markdown_text(text: str) -> str:
    """Text stored from Bugzilla (a CA name) as Markdown that shows it as written: markup and
    HTML characters escaped, control characters too. Anyone can file a bug, and a briefing's
    Markdown is pasted into documents that render HTML."""
    return _MARKUP.sub(r"\\\1", printable(text))


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (of the database's own error when SQLAlchemy wraps
    one: ``orig``), or its type's name when it says nothing: what a one-line message quotes."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__
