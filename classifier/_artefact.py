"""The artefact format: a skops file beside its sha256; loading never runs code from the file."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import skops.io as sio

from ._exceptions import ArtefactTampered, ModelError, ModelNotFound, UntrustedArtefact

#: The folder holding the ``classifier`` package, for the loader process's import path.
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent

#: Types skops does not trust by default that an artefact of ours may hold, by qualified name.
#: Anything else in a file refuses the load: this list is what makes loading safe.
TRUSTED_TYPES: tuple[str, ...] = (
    "classifier._model.IncidentTypeClassifier",
    "classifier._model.CueFlags",
    "classifier._baselines.MostFrequentTag",
    "classifier._baselines.KeywordTagger",
    "classifier._baselines.TfidfLogisticBaseline",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "builtins.frozenset",
    "re.Pattern",
)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sha_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def save_artefact(model: object, path: str | Path) -> str:
    """Write ``model`` to ``path`` (skops) and its sha256 beside it; return the sha256."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    sio.dump(model, tmp)
    sha = file_sha256(tmp)
    os.replace(tmp, path)
    _sha_path(path).write_text(f"{sha}  {path.name}\n", encoding="utf-8")
    return sha


def load_artefact(path: str | Path, expected_sha256: str | None = None) -> object:
    """Load an artefact after checking its bytes against its recorded sha256.

    Raises
    ------
    ModelNotFound
        The file or its sha256 file is missing.
    ArtefactTampered
        The file's sha256 differs from the recorded one (or from ``expected_sha256``).
    UntrustedArtefact
        The file would load a type outside :data:`TRUSTED_TYPES` and skops' defaults.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelNotFound(f"no artefact at {path}")
    try:
        recorded = _sha_path(path).read_text(encoding="utf-8").split()[0]
    except (FileNotFoundError, IndexError) as exc:
        raise ArtefactTampered(f"{path}: its sha256 file is missing or empty") from exc
    # Read once: the bytes checked are the bytes loaded, whatever happens to the file meanwhile.
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    for label, want in (("recorded", recorded), ("expected", expected_sha256)):
        if want is not None and want != actual:
            raise ArtefactTampered(
                f"{path}: sha256 is {actual} but {want} was {label}; the file was changed "
                "after it was written, so it is not loaded")
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # skops raises bare errors on files that are not its format
        raise ArtefactTampered(f"{path}: not a readable skops file ({exc})") from exc
    extra = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if extra:
        raise UntrustedArtefact(f"{path}: holds types that are not trusted: {extra}")
    return sio.loads(data, trusted=list(untrusted))


#: The errors a loader process can report, by name (anything else is a ModelError).
_LOAD_ERRORS: dict[str, type[ModelError]] = {
    cls.__name__: cls for cls in (ModelNotFound, ArtefactTampered, UntrustedArtefact)}


def load_artefact_isolated(path: str | Path, expected_sha256: str | None = None, *,
                           timeout: float = 600.0) -> object:
    """:func:`load_artefact` run in a child process, the model handed back pickled.

    Loading a skops file allocates some eight times the model's size in short-lived objects
    (the file, its schema decoded twice, each array's buffer). In a server whose requests
    allocate meanwhile, those interleave with long-lived objects and keep the heap from
    shrinking afterwards: a soak run kept some 50 MiB after one promotion. The child checks and
    loads the file with the same rules; this process only unpickles what the child pickled, a
    compact copy of the model made from the trusted types alone. Raises what
    :func:`load_artefact` raises, and :class:`ModelError` when the child fails otherwise.
    """
    path = Path(path)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(_PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p)
    # -P: `-m` would put the working directory first on the child's path, so a json.py beside
    # wherever the service was started would run at every promotion, and its output be unpickled.
    command = [sys.executable, "-P", "-m", "classifier._load_child", str(path)]
    if expected_sha256 is not None:
        command.append(expected_sha256)
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout, env=env, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelError(f"{path}: the loader process failed ({exc})") from exc
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        try:
            error = json.loads(lines[-1]) if lines else {}
        except ValueError:
            error = {}
        if not isinstance(error, dict):
            error = {}
        cls = _LOAD_ERRORS.get(str(error.get("error")), ModelError)
        raise cls(str(error.get("message") or f"{path}: the loader process exited with "
                      f"{done.returncode}: {lines[-1] if lines else 'no message'}"))
    return pickle.loads(done.stdout)
