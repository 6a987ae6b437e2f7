"""The online REST API: the app factory, routes, request and response schemas.

``create_app(settings)`` builds the app; ``incidents serve`` runs it under uvicorn.
"""

from .app import create_app

__all__ = ["create_app"]
