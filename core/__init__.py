"""What everything stands on: settings, the store, the model registry, Bugzilla, the classify path.

``config``          settings from ``INCIDENTS_*`` environment variables
``tables``, ``db``  the store's SQLAlchemy tables, engines, sessions and Alembic migrations
``store``           incidents, their Bugzilla tags and predictions (keyword-only functions)
``corrections``     maintainers' corrections, stored and listed (no model is run there)
``tokens``          maintainers' API tokens, stored as sha256
``review``          the review queue
``registry``        model versions on disk, their cards, the ``ACTIVE`` pointer
``files``           the hidden names files and folders are written under before their rename
``bugzilla``        Bugzilla's REST shapes, the REST client, the incremental sync, snapshot files
``classification``  the one path from incidents to tags with a loaded model
``labels``          which label an incident counts with: correction > Bugzilla tags > prediction
``aggregate``       the briefing table of a time window

Imports go one way, ``classifier`` <- ``core`` <- ``training`` <- ``cli`` / ``service``: nothing
here imports ``training``, ``cli`` or ``service``.
"""
