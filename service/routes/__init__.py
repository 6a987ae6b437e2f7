"""The routers, one a URL prefix: classify, incidents, corrections, review, aggregate, report, models,
hooks.

``health`` holds the probes at the root: /health, /ready, /metrics; ``ui`` the maintainers' page
at / (its forms post to /ui/...).
"""
