"""Stored text shown safely, and errors quoted on one line."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from core.text import first_line, markdown_text, printable


def test_printable_escapes_what_would_forge_a_line_or_drive_a_terminal() -> None:
    assert printable("bug 1\ncorrected by mallory\x1b[2J") == "bug 1\\ncorrected by mallory\\x1b[2J"
    assert printable("Zürich CA: 证书") == "Zürich CA: 证书"


def test_markdown_text_escapes_markup() -> None:
    assert markdown_text("<b>*Evil*</b> [CA](x)") == "\\<b\\>\\*Evil\\*\\</b\\> \\[CA\\](x)"


@pytest.mark.parametrize(("error", "said"), [
    (ValueError("first\nsecond"), "first"),
    (ValueError("  "), "ValueError"),
    # SQLAlchemy's wrapper adds the statement and a link; the database's own error is what says.
    (OperationalError("SELECT 1", {}, RuntimeError("connection refused\nDETAIL: port 9")),
     "connection refused"),
])
def test_first_line(error: BaseException, said: str) -> None:
    assert first_line(error) == said
