"""The service's own settings, on top of the project's (same ``INCIDENTS_*`` environment)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from core.bugzilla.records import MAX_LENGTHS
from core.config import Settings

#: Longest accepted summary (Bugzilla itself stops at 255 characters), as a sync takes.
MAX_SUMMARY_CHARS = MAX_LENGTHS["summary"]
#: Longest accepted description, and longest text of any one comment, as a sync takes.
MAX_DESCRIPTION_CHARS = MAX_LENGTHS["description"]
#: Most comments accepted with one bug (only comment 0 is read).
MAX_COMMENTS = 1_000
#: Longest whiteboard accepted.
MAX_WHITEBOARD_CHARS = 10_000
#: Most rows a listing skips (``offset=``): far above any store's rows, and within any
#: database's integer (a larger one would reach the store and fail there).
MAX_OFFSET = 1_000_000
#: The most INCIDENTS_MAX_BATCH may be; a batch body with more bugs is refused before any is read.
MAX_BATCH = 10_000
#: Shortest and longest webhook secret (Bugzilla keeps at most 64 characters of its value).
WEBHOOK_SECRET_CHARS = (16, 64)


class ServiceSettings(Settings):
    """What the REST service adds to the project's settings.

    Every field is read from ``INCIDENTS_<NAME>``, like the rest. A refused value is named in
    the error without the value itself (it may be a secret).
    """

    model_config = SettingsConfigDict(hide_input_in_errors=True)

    max_batch: int = Field(default=100, ge=1, le=MAX_BATCH,
                           description="Most bugs one POST /classify/batch takes.")
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024,
                                description="Largest request body, in bytes (413 above it).")
    request_read_timeout: float = Field(
        default=30.0, gt=0.0, le=3600.0,
        description="Seconds a client has to send a whole request (headers and body) once its "
                    "connection opens or its previous answer is sent; `incidents serve` closes the "
                    "connection after that.")
    model_check_interval: float = Field(
        default=1.0, ge=0.0, le=3600.0,
        description="Seconds between two looks at the models' ACTIVE file and at the taxonomy "
                    "file (0: every request).")
    require_token_for_reads: bool = Field(
        default=False,
        description="Classification and reading routes also need a maintainer's API token "
                    "(maintainer routes always do).")
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="The shared secret of Bugzilla's webhook (POST /hooks/bugzilla), which sends it "
                    "as the X-Api-Key header (or as the password of HTTP basic auth); "
                    f"{WEBHOOK_SECRET_CHARS[0]} to {WEBHOOK_SECRET_CHARS[1]} characters. Unset, the "
                    "route answers 404.")
    public_url: str | None = Field(
        default=None,
        description="The service's address as its readers reach it (https://incidents.example.org, "
                    "with any path it is served under): the Markdown briefing links its chart "
                    "there. Unset, the request's own address is used, Host header included.")
    briefing_concurrency: int = Field(
        default=2, ge=1, le=64,
        description="Briefings (GET /aggregate, its charts, /report, the page) a worker counts at "
                    "once; each holds its period's incidents in memory. Others wait up to 20 s, "
                    "then are answered 503 with Retry-After.")
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$",
                           description="Level of the service's request and model logs.")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname or "@" in parts.netloc:
            raise ValueError("must be an http(s) address without a user name or password")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        shortest, longest = WEBHOOK_SECRET_CHARS
        if not shortest <= len(value.get_secret_value()) <= longest:
            raise ValueError(f"must be {shortest} to {longest} characters long (Bugzilla keeps at "
                             f"most {longest} of a webhook's API key value)")
        return value

    @classmethod
    def of(cls, settings: Settings | None) -> ServiceSettings:
        """These settings from the environment, or on top of the given project settings."""
        if settings is None:
            return cls()
        if isinstance(settings, cls):
            return settings
        return cls(**settings.model_dump())
