"""The routers, one a URL prefix: classify, incidents, corrections, review, aggregate, models, hooks.

``health`` holds the probes at the root: /health, /ready, /metrics.
"""
