"""Settings of every command and of the service, read from ``INCIDENTS_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .live import LIVE_MIN_SCORED
from .moments import calendar_moment

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: Most processes INCIDENTS_N_JOBS asks for: far above this machine's cores, and far below what
#: makes joblib fail (a million workers) or the machine swap.
MAX_N_JOBS = 64
#: The resolutions bugzilla.mozilla.org knows; an excluded one must be among them.
BUGZILLA_RESOLUTIONS = frozenset({"FIXED", "INVALID", "WONTFIX", "INACTIVE", "DUPLICATE", "WORKSFORME",
                                  "INCOMPLETE", "SUPPORT", "EXPIRED", "MOVED"})


class Settings(BaseSettings):
    """Where the store, the models and the snapshot are, and how the model is used.

    Relative paths are taken from the current directory, so two shells with different values
    never touch each other's files.
    """

    # No inf or nan in a number of seconds or a share: "inf" waited for ever, or overflowed a
    # timestamp, and named no setting.
    model_config = SettingsConfigDict(env_prefix="INCIDENTS_", env_file=None, extra="ignore",
                                      allow_inf_nan=False)

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
    ca_names_file: Path = Field(
        default=PROJECT_ROOT / "core" / "ca_names.toml",
        description="The CAs' display names and the aliases and former names merged into each.",
    )
    eval_cutoff: str = Field(
        default="2023-01-01",
        description="Default time split of `incidents evaluate`: train before, test from this date.",
    )
    random_state: int = 0
    n_jobs: int = Field(default=1, description="Processes of batch jobs: joblib workers of training "
                        "and `classify FILE`; above 1, `relabel` classifies in that many child processes; "
                        f"-1 for every core; at most {MAX_N_JOBS}.")
    bugzilla_url: str = Field(
        default="https://bugzilla.mozilla.org",
        description="Base address of the Bugzilla whose REST API `incidents sync` reads.",
    )
    bugzilla_api_key: SecretStr | None = Field(
        default=None,
        description="Optional Bugzilla API key, sent as the X-BUGZILLA-API-KEY header; not logged.",
    )
    bugzilla_page_size: int = Field(
        default=500, ge=1, le=10_000,
        description="Bugs a `GET /rest/bug` page asks for (a server that answers fewer is fine).",
    )
    bugzilla_timeout: float = Field(
        default=30.0, gt=0, le=3600, description="Seconds to wait to connect, and then for each read.")
    bugzilla_max_attempts: int = Field(
        default=5, ge=1, le=100,
        description="Tries of one request before the sync stops (at most 100: urllib3 retries by "
                    "recursion, and about a thousand tries overflow its stack).")
    bugzilla_backoff: float = Field(
        default=1.0, ge=0, le=3600, description="Seconds before the first retry; doubled on each retry.")
    bugzilla_max_wait: float = Field(
        default=60.0, ge=0, le=3600, description="Cap in seconds of one backoff wait and of Retry-After.")

    eval_cutoffs: list[str] = Field(
        default=["2021-01-01", "2022-01-01", "2023-01-01"],
        description="Cutoffs of the multi-year report: train before each, test on the year after.",
    )

    retrain_tolerance: float = Field(
        default=0.01, ge=0, le=1,
        description="`incidents retrain` promotes a challenger whose category micro- and macro-F1 "
                    "are each at least the active model's minus this.",
    )
    retrain_holdout_fraction: float = Field(
        default=0.2, gt=0, lt=1,
        description="Newest share of labelled incidents (by filing time) on which `retrain` "
                    "compares the challenger with the active model.",
    )
    retrain_min_holdout: int = Field(
        default=30, ge=1,
        description="Fewest incidents `retrain` compares the challenger and the active model on; "
                    "it also leaves at least as many older ones to fit the challenger on, so with "
                    "fewer than twice this many labelled incidents nothing is compared and an "
                    "active model is kept (unless forced).",
    )
    retrain_gate_blocks: int = Field(
        default=3, ge=1, le=20,
        description="`retrain` scores the challenger on the comparison window in this many "
                    "consecutive blocks by filing time, each predicted by the challenger's recipe "
                    "fitted on every labelled incident filed before it (so the later blocks show "
                    "what learning the window's newest labels gains); 1 fits once, on the "
                    "incidents older than the window.",
    )
    retrain_gate_confidence: float = Field(
        default=0.9, ge=0, le=1,
        description="`retrain` keeps the active model only when the challenger is worse by more "
                    "than the tolerance and is lower in at least this share of paired bootstrap "
                    "resamples of the comparison window's incidents (a difference a few incidents "
                    "make is not a measured one); 0 keeps it whenever it is worse by more than "
                    "the tolerance.",
    )
    relabel_chunk_size: int = Field(
        default=200, ge=1, le=10_000,
        description="Incidents `incidents relabel` classifies and commits at a time.",
    )
    briefing_excluded_resolutions: list[str] = Field(
        default=["DUPLICATE", "INVALID"],
        description="Bugzilla resolutions of bugs that are not incidents of their own: the "
                    "briefing (GET /aggregate) leaves them out and says how many (JSON list).",
    )
    live_window: int = Field(
        default=100, ge=LIVE_MIN_SCORED, le=100_000,
        description="The live record of a model version is computed over its last this many "
                    "scored incidents (predictions made before Mozilla tagged them); at least "
                    f"{LIVE_MIN_SCORED}, the fewest its alarm speaks on.",
    )
    live_margin: float = Field(
        default=0.1, ge=0, le=1,
        description="The live record alarms (a /ready warning, and the next `incidents nightly` "
                    f"retrains) when its category micro-F1, over at least {LIVE_MIN_SCORED} scored "
                    "incidents, is below the card's held-out one by more than this.",
    )
    nightly_source: str = Field(
        default="bugzilla", pattern=r"^(bugzilla|snapshot)$",
        description="Where `incidents nightly` syncs from: Bugzilla, or INCIDENTS_SNAPSHOT_DIR.",
    )
    nightly_min_new_labels: int = Field(
        default=30, ge=1,
        description="`incidents nightly` retrains when at least this many labelled incidents are "
                    "new to the active model: filed after its training data, corrected after it "
                    "was made, or old bugs Mozilla tagged after it (see training/nightly.py).",
    )

    @field_validator("models_dir", "snapshot_dir", "taxonomy_file", "ca_names_file")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("n_jobs")
    @classmethod
    def _n_jobs(cls, value: int) -> int:
        # joblib's meaning, bounded: 0 is a joblib ValueError and a million workers a crash.
        if value != -1 and not 1 <= value <= MAX_N_JOBS:
            raise ValueError(f"must be -1 (every core) or 1 to {MAX_N_JOBS}")
        return value

    @field_validator("eval_cutoff", "eval_cutoffs")
    @classmethod
    def _days(cls, value: str | list[str]) -> str | list[str]:
        # Checked here so that a bad one is named by its variable, before any work.
        for day in [value] if isinstance(value, str) else value:
            try:
                calendar_moment(day)
            except ValueError:
                raise ValueError(f"{day!r} is not a date like 2023-01-01") from None
        return value

    @field_validator("bugzilla_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http://)")
        if "@" in urlsplit(value).netloc:
            # It is shown in error messages (GET /jobs answers them to anyone) and report links.
            raise ValueError("must not hold a user name or password; Bugzilla takes an API key "
                             "(INCIDENTS_BUGZILLA_API_KEY)")
        return value

    @field_validator("briefing_excluded_resolutions")
    @classmethod
    def _resolutions(cls, value: list[str]) -> list[str]:
        # A misspelt resolution matched nothing and silently counted those bugs as incidents.
        unknown = [name for name in value if name.strip().upper() not in BUGZILLA_RESOLUTIONS]
        if unknown:
            raise ValueError(f"{', '.join(map(repr, unknown))} is not a Bugzilla resolution "
                             f"(one of {', '.join(sorted(BUGZILLA_RESOLUTIONS))})")
        return [name.strip().upper() for name in value]

    @field_validator("bugzilla_api_key")
    @classmethod
    def _blank_key_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value().strip() else None


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once; tests clear the cache or pass their own."""
    return Settings()
