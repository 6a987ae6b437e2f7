"""The routers, one a URL prefix: classify, incidents, corrections, review, aggregate, models.

``health`` holds the probes at the root: /health, /ready, /metrics.
"""
