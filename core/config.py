"""Settings of every command and of the service, read from ``INCIDENTS_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Where the store, the models and the snapshot are, and how the model is used.

    Relative paths are taken from the current directory, so two shells with different values
    never touch each other's files.
    """

    model_config = SettingsConfigDict(env_prefix="INCIDENTS_", env_file=None, extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / 'incidents.db'}",
        description="SQLAlchemy URL of the store (SQLite file by default, PostgreSQL in production).",
    )
    models_dir: Path = Field(default=PROJECT_ROOT / "models", description="Folder of model versions.")
    snapshot_dir: Path = Field(
        default=PROJECT_ROOT.parent / "shared" / "data" / "bugzilla",
        description="Folder with a Bugzilla REST snapshot (bugs.json, comments.json).",
    )
    taxonomy_file: Path = Field(
        default=PROJECT_ROOT / "classifier" / "taxonomy.toml",
        description="Maps whiteboard tags to briefing categories.",
    )
    eval_cutoff: str = Field(
        default="2023-01-01",
        description="Default time split of `incidents evaluate`: train before, test from this date.",
    )
    random_state: int = 0
    n_jobs: int = Field(default=1, description="Worker processes of batch jobs (joblib).")

    @field_validator("models_dir", "snapshot_dir", "taxonomy_file")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once; tests clear the cache or pass their own."""
    return Settings()
