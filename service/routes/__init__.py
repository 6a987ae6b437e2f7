"""One router a resource: classify, incidents, aggregate, models, health."""
