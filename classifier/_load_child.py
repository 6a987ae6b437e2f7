"""The loader process of :func:`classifier._artefact.load_artefact_isolated`.

``python -m classifier._load_child PATH [SHA256]`` loads the artefact with
:func:`~classifier._artefact.load_artefact` and writes it, pickled, to stdout. On an error it
exits 1 with one JSON line on stderr: ``{"error": <exception class>, "message": <text>}``.
"""

from __future__ import annotations

import json
import pickle
import sys

from ._artefact import load_artefact


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print(json.dumps({"error": "ModelError", "message": "usage: PATH [SHA256]"}), file=sys.stderr)
        return 2
    try:
        model = load_artefact(argv[0], argv[1] if len(argv) == 2 else None)
    except Exception as exc:  # noqa: BLE001 - every failure goes back to the parent as one line
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}), file=sys.stderr)
        return 1
    sys.stdout.buffer.write(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
