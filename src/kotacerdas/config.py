"""Typed settings, read from the environment (prefix ``KOTACERDAS_``) and an optional ``.env`` file.

Every key is described here; ``docs/admin-guide.md`` lists them for operators. Placeholder secrets are
refused outside development, so a production install cannot start with the repository's defaults.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_SECRET = "dev-secret-change-me"  # noqa: S105 - a known placeholder, refused in production below


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOTACERDAS_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = Field(
        "development",
        description="development, test or production. Production refuses placeholder secrets and sets secure cookies.",
    )
    data_dir: Path = Field(
        Path("data"),
        description="Directory for the SQLite database and uploaded files (evidence, photos).",
    )
    database_url: str = Field(
        "",
        description="SQLAlchemy URL. Empty means SQLite at <data_dir>/kotacerdas.sqlite3. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/dbname.",
    )
    secret_key: str = Field(
        DEV_SECRET,
        description="Secret for signing CSRF tokens and cookies. At least 32 random characters in production.",
    )
    session_days: int = Field(14, ge=1, le=90, description="How long a login session lasts, in days.")
    default_language: Literal["id", "en"] = Field(
        "id", description="Language of pages when the user has not chosen one."
    )
    default_region: str = Field(
        "",
        description="Kemendagri code of the installation's default region (e.g. 35.09). Empty: the first region created.",
    )
    upload_max_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1024,
        description="Largest accepted upload (evidence files, workbooks), in bytes.",
    )
    host: str = Field("127.0.0.1", description="Address `kotacerdas serve` binds to.")
    port: int = Field(8000, description="Port `kotacerdas serve` listens on.")
    workers: int = Field(1, ge=1, description="Worker processes for `kotacerdas serve`.")
    demo: bool = Field(False, description="Label every page as demo data.")
    log_level: str = Field("info", description="Python logging level.")
    argon2_time_cost: int = Field(3, ge=1, description="Argon2id iterations for password hashes.")
    argon2_memory_kib: int = Field(65536, ge=8, description="Argon2id memory per hash, in KiB.")
    argon2_parallelism: int = Field(4, ge=1, description="Argon2id lanes.")
    # the hub (NGSI-LD)
    hub_max_body_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1024,
        description="Largest NGSI-LD request body, in bytes (a batch of 1,000 entities).",
    )
    hub_default_limit: int = Field(
        20, ge=1, le=1000, description="Entities per page when a query sets no limit."
    )
    hub_max_limit: int = Field(1000, ge=1, le=10000, description="Largest `limit` a query may ask for.")
    hub_temporal_limit: int = Field(
        30, ge=1, le=10000, description="Attribute instances per page of a temporal query (206 beyond it)."
    )
    hub_context_timeout: float = Field(5.0, gt=0, description="Seconds to wait for a remote @context.")
    hub_context_cache_seconds: float = Field(
        3600.0, ge=0, description="How long a fetched @context is reused."
    )
    hub_read_default: Literal["public", "key"] = Field(
        "public",
        description="Whether hub entity types can be read without a key unless a region says otherwise.",
    )
    hub_history_retention_days: int = Field(
        0, ge=0, description="Delete hub history older than this many days (0: keep everything)."
    )
    hub_downsample_after_days: int = Field(
        0, ge=0, description="Replace numeric hub history older than this by period averages (0: never)."
    )
    hub_downsample_period: str = Field("PT1H", description="Period of the averages that replace old history.")
    mqtt_host: str = Field(
        "127.0.0.1", description="MQTT broker for `kotacerdas ingest mqtt` and `simulate`."
    )
    mqtt_port: int = Field(1883, description="MQTT broker port.")
    mqtt_username: str = Field("", description="MQTT user name (empty: anonymous).")
    mqtt_password: str = Field("", description="MQTT password.")
    mqtt_client_id: str = Field(
        "kotacerdas-ingest",
        description="Client id of the ingest's persistent MQTT session (one per ingest process).",
    )
    mqtt_batch_size: int = Field(5000, ge=1, description="Most MQTT messages written in one transaction.")
    mqtt_batch_ms: int = Field(
        50, ge=1, description="Longest wait, in ms, before a partial MQTT batch is written."
    )
    notify_timeout: float = Field(5.0, gt=0, description="Seconds to wait for a subscriber's endpoint.")
    notify_max_attempts: int = Field(
        8, ge=1, description="Attempts to deliver a notification before giving up."
    )
    worker_poll_ms: int = Field(20, ge=1, description="How often the worker looks for changes, in ms.")
    # citizen reports
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="The address citizens reach the site at; links in e-mails and Open311 media_url use it.",
    )
    report_photo_max_bytes: int = Field(
        5 * 1024 * 1024, ge=1024, description="Largest photo accepted with a report, in bytes (at most 3)."
    )
    report_anonymous_limit: int = Field(
        5,
        ge=1,
        description="Reports one address may file without logging in per `report_anonymous_window_minutes`.",
    )
    report_anonymous_window_minutes: int = Field(
        60, ge=1, description="Window of the anonymous-submission rate limit, in minutes."
    )
    open311_jurisdiction: str = Field(
        "",
        description="Open311 jurisdiction_id of the default region (e.g. jemberkab.go.id); the region code "
        "(35.09) is always accepted too.",
    )
    open311_contact: str = Field("Diskominfo", description="Contact named in the Open311 discovery document.")
    smtp_host: str = Field(
        "",
        description="SMTP server for e-mail notifications (empty: e-mails wait in the outbox until one is set).",
    )
    smtp_port: int = Field(25, description="SMTP port (587 with STARTTLS, 465 with TLS).")
    smtp_security: Literal["none", "starttls", "tls"] = Field("none", description="SMTP transport security.")
    smtp_username: str = Field("", description="SMTP user name (empty: no login).")
    smtp_password: str = Field("", description="SMTP password.")
    smtp_from: str = Field(
        "kotacerdas <noreply@localhost>", description="From address of e-mail notifications."
    )
    citizen_poll_seconds: float = Field(
        5.0,
        gt=0,
        description="How often the worker sends due report e-mails and webhooks, in seconds "
        "(at once after a change in the same process); deadlines are checked every minute.",
    )
    embedded_worker: bool = Field(
        True,
        description="Run the background worker inside `kotacerdas serve` (false: run `kotacerdas worker`).",
    )
    # outbound requests to addresses users choose (subscriptions, webhooks, remote @contexts)
    outbound_allow_private: bool = Field(
        False,
        description="Whether subscription endpoints, office webhooks and remote @contexts may be on "
        "loopback or private networks (RFC 1918, 100.64.0.0/10, fc00::/7). Unset: true in development "
        "and test, false in production. Link-local (169.254.169.254), multicast and reserved addresses "
        "need `outbound_allow`.",
    )
    outbound_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Destinations allowed whatever their address, comma-separated: CIDR networks "
        "(10.20.0.0/16), addresses, host names (simpeg.jemberkab.go.id) or *.domain.",
    )

    @field_validator("outbound_allow", mode="before")
    @classmethod
    def _split_allowlist(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part for part in value.replace(",", " ").split() if part]
        return value

    @field_validator("outbound_allow")
    @classmethod
    def _check_allowlist(cls, value: list[str]) -> list[str]:
        from kotacerdas.kit.outbound import parse_allow

        parse_allow(value)  # a typo fails at start-up, not at the first webhook
        return value

    @model_validator(mode="after")
    def _private_outbound_by_environment(self) -> Settings:
        if "outbound_allow_private" not in self.model_fields_set:
            # development and test talk to receivers on 127.0.0.1; production refuses them by default
            self.outbound_allow_private = self.environment != "production"
        return self

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.environment == "production" and (self.secret_key == DEV_SECRET or len(self.secret_key) < 32):
            raise ValueError(
                "KOTACERDAS_SECRET_KEY must be set to at least 32 random characters in production "
                "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'kotacerdas.sqlite3').resolve()}"

    @property
    def upload_dir(self) -> Path:
        return self.data_dir / "files"

    @property
    def secure_cookies(self) -> bool:
        return self.environment == "production"


@lru_cache
def get_settings() -> Settings:
    return Settings()
