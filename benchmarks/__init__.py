"""Benchmarks that replay the project's history on the real Bugzilla snapshot (`make bench`)."""
