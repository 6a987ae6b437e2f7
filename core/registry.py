"""Model versions on disk: one folder a version, a card each, and an atomically switched ACTIVE."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from classifier import (
    ActiveChanged,
    AlreadyActive,
    ArtefactTampered,
    ModelError,
    ModelNotFound,
    load_artefact,
    load_artefact_isolated,
    save_artefact,
)

from .files import aside, aside_of
from .pause import pause_at

ARTEFACT = "model.skops"
CARD = "card.json"
ACTIVE = "ACTIVE"
HISTORY = "history.jsonl"
#: ``promote(replacing=ANY)``: whichever version is active.
ANY = object()
_VERSION = re.compile(r"^v(\d+)$")


@dataclass(frozen=True)
class LoadedModel:
    """A model version read from disk and checked against its sha256."""

    version: str
    model: Any
    card: dict[str, Any]


def _make_folder_aside(folder: Path, prefix: str) -> Path:
    """A new empty folder in ``folder``, with the umask's mode: tempfile.mkdtemp's 0700 stays
    on the version folder renamed from it, which a service running as another user could not
    read."""
    path = aside(folder, prefix)
    os.mkdir(path, 0o777)
    return path


def _write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` whole; on failure (a full disk) nothing is left beside it
    and the OSError names the file, where it said only "[Errno 28] No space left on device"."""
    tmp = aside_of(path)
    # Not mkstemp, whose 0600 would stay on the file renamed into place (ACTIVE): the umask's.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror, str(tmp)) from exc
        raise
    # The rename is durable once the folder's entry is (a crash could otherwise undo it).
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


class ModelRegistry:
    """The versions under ``root`` (``v1``, ``v2``, ...) and which one is active."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # -- reading -----------------------------------------------------------------------------
    def versions(self) -> list[str]:
        if not self.root.is_dir():
            return []
        found = [p.name for p in self.root.iterdir()
                 if _VERSION.match(p.name) and (p / CARD).is_file()]
        return sorted(found, key=lambda v: int(v[1:]))

    def card(self, version: str) -> dict[str, Any]:
        path = self.root / version / CARD
        if not _VERSION.match(version) or not path.is_file():
            raise ModelNotFound(f"no model version {version!r} in {self.root}")
        try:
            card = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:  # there, but not to be opened (another user's file): damaged
            raise ModelError(f"{version}/{CARD} cannot be read "
                             f"({exc.strerror or type(exc).__name__})") from None
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise ModelError(f"{version}/{CARD} is not a readable card ({exc})") from None
        if not isinstance(card, dict):
            raise ModelError(f"{version}/{CARD} is not a readable card (not a JSON object)")
        return card

    def active_version(self) -> str | None:
        try:
            version = (self.root / ACTIVE).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            raise ModelError(f"{ACTIVE} in {self.root} does not name a version (not text)") from None
        return version or None

    def load(self, version: str | None = None, *, isolated: bool = False) -> LoadedModel:
        """Load ``version`` (the active one by default), refusing a changed artefact.

        ``isolated`` loads it in a child process (:func:`classifier.load_artefact_isolated`):
        slower to start, but the loading's short-lived memory stays out of this process.
        """
        version = self.active_version() if version is None else version
        if version is None:
            raise ModelNotFound(
                f"no active model in {self.root}; train one with `incidents train`")
        card = self.card(version)
        recorded = card.get("artefact_sha256")
        if not isinstance(recorded, str) or not recorded:
            # Every card has had it since the first version: one without it was edited.
            raise ArtefactTampered(f"{version}/{CARD} records no sha256 of its artefact, so it "
                                   "is not loaded")
        load = load_artefact_isolated if isolated else load_artefact
        model = load(self.root / version / ARTEFACT, recorded)
        return LoadedModel(version, model, card)

    def history(self) -> list[dict[str, Any]]:
        """The promotions and rollbacks, oldest first. A line that is not an entry (one an
        interrupted append left half-written, or edited by hand) is skipped: the history is what
        a rollback walks back through, and one bad line must not stop every later one."""
        path = self.root / HISTORY
        if not path.is_file():
            return []
        entries = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except (json.JSONDecodeError, RecursionError):
                continue
            if isinstance(entry, dict) and isinstance(entry.get("active"), str):
                entries.append(entry)
        return entries

    # -- writing -----------------------------------------------------------------------------
    def create(self, model: Any, card: dict[str, Any]) -> str:
        """Write a new version (artefact, sha256, card) and return its name.

        The version folder appears whole or not at all: it is written aside and renamed.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        staging = _make_folder_aside(self.root, ".staging-")
        try:
            sha = save_artefact(model, staging / ARTEFACT)
            pause_at("registry:staged")
            while True:
                # Every vN folder takes its number, a card or not: renaming onto a leftover
                # folder would fail (or replace it) again and again.
                numbers = [int(m.group(1)) for p in self.root.iterdir()
                           if (m := _VERSION.match(p.name))]
                version = f"v{max(numbers, default=0) + 1}"
                full = {"version": version, "artefact": ARTEFACT, "artefact_sha256": sha, **card}
                (staging / CARD).write_text(json.dumps(full, indent=2, sort_keys=False) + "\n",
                                            encoding="utf-8")
                try:
                    os.rename(staging, self.root / version)
                    return version
                except OSError:
                    if not (self.root / version).exists():
                        raise
                    # Another job took this number first; take the next one.
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def promote(self, version: str, *, reason: str = "promote",
                replacing: str | None | object = ANY, by: str | None = None) -> str | None:
        """Make ``version`` active after checking it loads; return the version it replaces.
        ``by``: who asked (a maintainer's token name, or the user running the CLI), recorded in
        the history.

        ``replacing``: the version the caller means to replace (None: no version active); when
        another is active by then, ActiveChanged and nothing changes. The check and the switch
        happen under a lock of the models folder shared by every process, so of two promotions
        replacing the same version one wins and the other is refused. The switch is one rename
        of the ACTIVE file, so a reader sees the old or the new version, never a mix. Promoting
        the active version is refused (AlreadyActive): it would only push it on the history a
        rollback walks back through.
        """
        return self._activate(version, kind="promote", reason=reason, replacing=replacing, by=by)[1]

    def rollback(self, *, by: str | None = None) -> str:
        """Make the version that was active before the current one active again (``by``: who
        asked, as for :meth:`promote`).

        Rollbacks walk back through the promotions: two rollbacks after v1, v2, v3 give v1. The
        target is read under the same lock as the switch, so a promotion made meanwhile is rolled
        back from, not skipped.
        """
        return self._activate(None, kind="rollback", by=by)[0]

    def rollback_target(self) -> str | None:
        """The version :meth:`rollback` would make active, or None when there is none."""
        active = self.active_version()
        if self._names_no_version(active):
            return None
        stack, _ = self._rollback_stack(active)
        return stack[-2] if len(stack) >= 2 else None

    def _names_no_version(self, active: str | None) -> bool:
        """Whether ACTIVE's ``active`` is no version of this folder (edited, or its folder gone)."""
        return active is not None and not (self.root / active / CARD).is_file()

    def prunable(self, keep: int) -> list[str]:
        """The versions ``prune(keep)`` would remove, oldest first: every version but the active
        one, those a rollback could return to (the activation stack) and the newest ``keep``."""
        if keep < 1:
            raise ValueError(f"keep must be at least 1, not {keep}")
        versions = self.versions()
        protected = {*versions[-keep:], *self._activation_stack()}
        active = self.active_version()
        if active is not None:
            protected.add(active)
        return [v for v in versions if v not in protected]

    def size(self, version: str) -> int:
        """Bytes a version's folder takes on disk (0 when it is not there)."""
        folder = self.root / version
        if not _VERSION.match(version) or not folder.is_dir():
            return 0
        return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())

    def prune(self, keep: int) -> list[str]:
        """Delete the versions ``prunable(keep)`` lists; return those removed, oldest first.

        Each is checked again just before it goes (a promotion may have happened meanwhile), then
        renamed aside in one step, so no reader ever sees half a version, and deleted.
        """
        removed = []
        for version in self.prunable(keep):
            if version not in self.prunable(keep):
                continue
            aside = _make_folder_aside(self.root, f".pruning-{version}-")
            os.replace(self.root / version, aside / version)
            shutil.rmtree(aside, ignore_errors=True)
            removed.append(version)
        return removed

    def _activation_stack(self) -> list[str]:
        stack: list[str] = []
        for entry in self.history():
            if entry.get("kind") == "restore":  # ACTIVE set back to the version on top
                continue
            if entry.get("kind") != "rollback":
                stack.append(entry["active"])
            elif stack:  # older code could write, in a race, more rollbacks than promotions
                stack.pop()
        return stack

    def _rollback_stack(self, active: str | None) -> tuple[list[str], bool]:
        """The versions a rollback walks back through, the active one last, and whether the
        active one had to be added: active without its history entry (a promotion killed between
        its two writes, or its line torn)."""
        stack = self._activation_stack()
        if (active is not None and (not stack or stack[-1] != active)
                and not self._names_no_version(active)):
            return [*stack, active], True
        return stack, False

    def _activate(self, version: str | None, *, kind: str, reason: str = "",
                  replacing: str | None | object = ANY, by: str | None = None
                  ) -> tuple[str, str | None]:
        """Switch ACTIVE to ``version`` (a rollback's target when None) and append the history
        entry; return the version made active and the one it replaces."""
        if version is not None:
            self.load(version)
        elif not self.root.is_dir():  # a rollback in a models folder not there: not made
            raise ModelNotFound("no version is active: there is nothing to roll back")
        # The folder itself is the lock (no file left behind): every process's promotions,
        # rollbacks and retrainings of this folder take turns between check and switch.
        folder = os.open(self.root, os.O_RDONLY)
        try:
            fcntl.flock(folder, fcntl.LOCK_EX)
            previous = self.active_version()
            entries: list[dict[str, Any]] = []
            now = datetime.now(UTC).isoformat()
            stack, unrecorded = self._rollback_stack(previous)
            if unrecorded and version != previous:
                # Active without its history entry (a promotion killed between its two writes),
                # and now replaced or rolled back from: recorded first, so the history stays one
                # a rollback can walk back through, and prune keeps it.
                entries.append({"at": now, "kind": "promote", "active": previous,
                                "previous": stack[-2] if len(stack) >= 2 else None,
                                "reason": "recorded: active without its history entry",
                                "by": by})
            elif kind == "promote" and version != previous and stack and stack[-1] == version:
                # ACTIVE names no version (edited, or its folder gone) and this one is the
                # history's own: a restore, not pushed again for a rollback to "return" to.
                kind = "restore"
            if version is None:  # a rollback: its target, read under the lock
                if self._names_no_version(previous):
                    raise ModelNotFound(
                        f"{ACTIVE} names {previous!r}, which is not a version here, so there is "
                        "nothing to roll back from: make one active with `incidents models "
                        "promote VERSION`")
                if len(stack) < 2:
                    raise ModelNotFound(
                        f"{previous} has no earlier active version to roll back to" if previous
                        else "no version is active: there is nothing to roll back")
                version, reason = stack[-2], f"rollback from {stack[-1]}"
                self.load(version)
            if replacing is not ANY and previous != replacing:
                raise ActiveChanged(
                    f"not promoting {version}: it was to replace {replacing or 'no version'}, but "
                    f"{previous or 'no version'} became active meanwhile; compare {version} with "
                    f"{previous} (`incidents retrain` again) or promote it explicitly")
            if kind == "promote" and version == previous:
                recorded = stack[:-1] if unrecorded else stack  # the history's own, read above
                if recorded and recorded[-1] == version:
                    raise AlreadyActive(f"{version} is already the active version")
                # Active without its history entry: a promotion killed between the two writes.
                # Promoting it again completes that promotion, replacing the history's last version.
                previous = recorded[-1] if recorded else None
            pause_at("registry:before-active")
            _write_atomic(self.root / ACTIVE, version + "\n")
            pause_at("registry:before-history")
            entries.append({"at": now, "kind": kind, "active": version, "previous": previous,
                            "reason": reason, "by": by})
            with open(self.root / HISTORY, "a+b") as fh:
                # After a line an interrupted append left unfinished, start a line of its own.
                end = fh.seek(0, os.SEEK_END)
                torn = end > 0 and os.pread(fh.fileno(), 1, end - 1) != b"\n"
                fh.write((b"\n" if torn else b"")
                         + b"".join(json.dumps(e).encode() + b"\n" for e in entries))
        finally:
            os.close(folder)  # releases the lock
        return version, previous
