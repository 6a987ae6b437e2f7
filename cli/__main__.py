"""`python -m cli`: the ``incidents`` command line."""

from cli import app

if __name__ == "__main__":  # not when re-imported as __mp_main__ by the service's worker processes
    app(prog_name="incidents")
