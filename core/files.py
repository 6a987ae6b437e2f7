"""Files and folders written aside, under a fresh hidden name, then renamed into place: a reader
sees the old one or the new one, never a part. A message naming such a name names its folder
(``cli._shared``): the leading dot tells them apart."""

from __future__ import annotations

import secrets
from pathlib import Path


def aside(folder: Path, prefix: str) -> Path:
    """A fresh name in ``folder``, starting with ``prefix`` (a dot first)."""
    return folder / f"{prefix}{secrets.token_hex(8)}"


def aside_of(path: Path) -> Path:
    """A fresh name beside ``path`` for its new content: ``.NAME.<random>``."""
    return aside(path.parent, f".{path.name}.")
