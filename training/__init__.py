"""Offline jobs: snapshot loading, dataset building, training, evaluation and the CLI."""
