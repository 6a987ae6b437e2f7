"""Text every store back end keeps the same way."""

from __future__ import annotations

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
