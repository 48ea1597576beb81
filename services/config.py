"""One Settings object for every entry point, read from ENERGIBLIK_* environment variables.

Nested settings use a double underscore: ENERGIBLIK_DB__URL, ENERGIBLIK_MQTT__PORT,
ENERGIBLIK_INGEST__BATCH_MAX_MESSAGES.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseModel):
    url: str = "postgresql+psycopg://postgres@127.0.0.1:55432/energiblik"
    pool_size: int = 5


class MqttSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 51883
    username: str | None = "energiblik-ingest"
    password: SecretStr | None = None
    topic_prefix: str = "energiblik/v1"
    client_id: str = "energiblik-ingest-1"
    # Workers with the same share group split the stream (MQTT shared subscription $share/<group>/...).
    # Empty means a plain subscription: every worker then receives every message.
    share_group: str = "energiblik"
    keepalive_s: int = 30
    # MQTT 5 (default): the worker bounds what the broker may have in flight to it (Receive Maximum) and sets its
    # session's expiry. MQTT 3.1.1: the broker's max_inflight_messages is the bound and its
    # persistent_client_expiration the expiry; paho then decodes no v5 properties per message, about 10 % cheaper
    # for single-reading messages (docs/benchmarks.md).
    protocol: Literal["5", "3.1.1"] = "5"
    # A persistent session keeps unacknowledged and queued messages while the worker is away.
    session_expiry_s: int = 7 * 24 * 3600


class IngestSettings(BaseModel):
    batch_max_messages: int = 5000
    # Plausibility window of a reading's time: not before `earliest_ts`, not more than `max_future_hours` ahead of
    # its receipt. Older history comes in through the imports, which take their own window.
    earliest_ts: AwareDatetime = datetime(2000, 1, 1, tzinfo=UTC)
    max_future_hours: float = 24.0
    # Largest register or interval value accepted, after conversion to kWh (energy) or m3 (water, gas, oil volume):
    # 1e11 kWh is 100 TWh, more than Denmark uses in a year; a value beyond it is a decoding error, not a reading.
    max_abs_value: float = 1e11
    # The guard against a bad deploy (arroyo's DlqLimit): the worker stops, without committing or acknowledging the
    # batch that tripped it, when internal errors (bugs, not bad payloads) reach `guard_min_errors` and
    # `guard_share` of the last `guard_window` messages. A few poison messages never trip it.
    guard_window: int = 1000
    guard_share: float = 0.5
    guard_min_errors: int = 50
    batch_max_bytes: int = 1024 * 1024
    # Latency bound at low traffic; under load batches fill by size long before.
    batch_max_age_ms: int = 50
    max_payload_bytes: int = 256 * 1024
    max_readings_per_message: int = 10_000
    metrics_port: int = 9108
    metrics_host: str = "127.0.0.1"
    quarantine_sweep_s: float = 30.0
    # Recompute consumption rollups inside the ingest worker (once a second). Off by default: the separate
    # `python -m ingest.rollups` process does it without slowing down the drain of a backlog. Workers always record
    # which reading ranges changed.
    rollups: bool = False
    # Pending ranges recomputed per transaction. What a transaction recomputes (rollups, counter decisions) becomes
    # visible at its commit: after a burst (the demo's live simulation catching up an hour at start) one transaction
    # of 5,000 ranges ran 30-40 s, and the alert process's next evaluation missed the counter reset it held.
    rollup_batch: int = 500
    rollup_interval_s: float = 1.0
    # At SIGTERM the worker flushes; if the database stays unavailable this long, it exits (code 3) without acking.
    stop_grace_s: float = 20.0
    retry_initial_s: float = 0.5
    # On a graceful stop, leave the shared subscription for good: unsubscribe, drain what the broker still holds for
    # this session, then end the session. For scaling in: an offline session in a share group keeps receiving its
    # share of messages until it expires.
    retire_on_stop: bool = False
    retire_idle_s: float = 2.0
    retry_max_s: float = 15.0


class MembershipSettings(BaseModel):
    """Share-group membership of ingest workers (table ingest_members), so a member that never returns is visible."""

    # how often a worker writes its heartbeat and looks at the other members (never per message)
    heartbeat_s: float = 5.0
    # a member whose heartbeat is older than this is not running; `energiblik ingest reclaim` refuses a fresher one
    stale_after_s: float = 30.0
    # watch Mosquitto's $SYS topics (stored messages, disconnected sessions) from a small second MQTT client
    watch_broker: bool = True


class BrokerFilesSettings(BaseModel):
    """Where the broker's generated password and ACL files live, and the secret that derives building passwords."""

    password_file: Path | None = None
    acl_file: Path | None = None
    pid_file: Path | None = None
    secret: SecretStr | None = None
    ingest_username: str = "energiblik-ingest"


class AlertSettings(BaseModel):
    """`python -m ingest.alerts`: how often rules are evaluated, and where notifications go."""

    interval_s: float = 60.0
    # complete local days judged again on every evaluation, so late data counts
    days_back: int = 3
    # JSON POST per opened or resolved alert, signed: X-Energiblik-Signature: sha256=<HMAC-SHA256(secret, body)>
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_timeout_s: float = 10.0
    webhook_max_attempts: int = 8
    # wait before retry n: backoff_s * 2**(n-1), at most an hour
    webhook_backoff_s: float = 5.0


class RollupSettings(BaseModel):
    """`python -m ingest.rollups`: where it serves /metrics (rollup lag, pending ranges) and /health."""

    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9118
    # /health says "lagging" (still 200) when the oldest pending range is older than this
    lag_warn_s: float = 300.0


class SourceSettings(BaseModel):
    """What every connector has: on or off, where its API is, how often the scheduler runs it."""

    enabled: bool = False
    base_url: str = ""
    # the scheduler runs a source when this long has passed since its last run started (sources may refine it)
    every_s: float = 86400.0
    timeout_s: float = 60.0
    max_attempts: int = 6  # per HTTP request, on 429/5xx/connection errors, with exponential back-off
    backoff_s: float = 2.0


def read_secret(value: SecretStr | None, file: Path | None, what: str) -> str | None:
    """A secret from its setting or, when that is unset, from a secret file (Docker/Compose/systemd credentials).
    The value never reaches a log or an error message; `what` names the setting when the file cannot be read."""
    if value is not None and value.get_secret_value().strip():
        return value.get_secret_value().strip()
    if file is None:
        return None
    try:
        text = file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"{what}: cannot read the secret file {file}: {exc.strerror}") from None
    return text or None


class EloverblikSettings(SourceSettings):
    """Eloverblik's third-party API (DataHub electricity by GSRN); docs/connectors.md, "Eloverblik (DataHub)"."""

    base_url: str = "https://api.eloverblik.dk/thirdpartyapi"
    refresh_token: SecretStr | None = None
    refresh_token_file: Path | None = None
    # only the authorizations (powers of attorney) granted by this CVR; unset: every active authorization
    cvr: str | None = None
    # the nightly run, local time (DataHub has most of yesterday by then; what comes later is seen the next night)
    run_at: time = time(3, 30)
    # every incremental run fetches again this many days before each metering point's cursor, so corrections
    # DataHub publishes later are seen and stored as revisions
    correction_days: int = Field(default=31, ge=0, le=730)
    # a metering point without a cursor (first run, or newly authorised) starts this many days back; --backfill
    # goes back as far as the data goes
    first_sync_days: int = Field(default=31, ge=1, le=730)
    # days per time-series request (the API takes at most 730) and metering points per request (the API's
    # recommendation: 10)
    chunk_days: int = Field(default=31, ge=1, le=730)
    points_per_request: int = Field(default=10, ge=1, le=10)
    # the API serves "the previous 5 years plus the current year"; backfill never asks before that, nor before 2015
    history_years: int = Field(default=5, ge=0, le=20)
    backoff_s: float = 30.0  # no Retry-After on a 429/503: wait 30 s, 60 s, … ("wait 1 min. before retrying")
    max_attempts: int = 4
    timeout_s: float = 120.0


class UtilitySettings(SourceSettings):
    # a folder whose new export files the scheduler imports (moved to done/ or failed/ with a report beside them)
    inbox: Path | None = None
    every_s: float = 300.0
    # the inbox files' mapping: a preset name, inline JSON or a .json file (docs/connectors.md, "Utility exports")
    preset: str | None = None


class DmiSettings(SourceSettings):
    """DMI heating degree days (docs/connectors.md, "DMI degree days")."""

    # since DMI's 2025 change the Climate Data API is open without a key at opendataapi.dmi.dk; the older gateway
    # dmigw.govcloud.dk/v2/climateData wants a key (api_key / api_key_file, sent as X-Gravitee-Api-Key)
    base_url: str = "https://opendataapi.dmi.dk/v2/climateData"
    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    municipality_id: str = "0151"  # Ballerup
    run_at: time = time(6, 0)  # local time, daily
    months_back: int = Field(default=13, ge=1, le=240)  # re-read window of a normal run: DMI corrects values later
    days_back: int = Field(default=40, ge=1, le=3660)
    backfill_from: date = date(2015, 1, 1)  # --backfill reads from here (the baseline year)
    daily: bool = True  # also daily values into degree_days_daily


class EnergiDataServiceSettings(SourceSettings):
    """Hourly CO2 intensity of electricity (docs/connectors.md, "Energi Data Service hourly CO₂")."""

    base_url: str = "https://api.energidataservice.dk"
    # the buildings' price area: /co2 computes electricity hour by hour with its intensity
    price_area: str = "DK2"  # Ballerup lies east of the Great Belt
    areas: list[str] = Field(default_factory=lambda: ["DK1", "DK2"])  # fetched and stored
    dataset: str = "DeclarationGridEmission"
    method: str = "125%"  # FuelAllocationMethod: the Danish 125 % method of Energinet's environmental declaration
    every_s: float = 86400.0
    run_at: time = time(7, 0)  # local time, daily: the declaration appears days after the hour
    reread_days: int = Field(default=35, ge=0, le=400)  # re-read before the cursor: late and revised hours
    chunk_days: int = Field(default=92, ge=1, le=400)
    page_limit: int = Field(default=10_000, ge=100, le=100_000)
    backfill_from: date = date(2015, 1, 1)  # --backfill reads from here; the dataset begins where it begins


class SyncSettings(BaseModel):
    """`python -m ingest.sync` and `energiblik sync <source>`: the connectors (docs/connectors.md)."""

    eloverblik: EloverblikSettings = Field(default_factory=EloverblikSettings)
    utility: UtilitySettings = Field(default_factory=UtilitySettings)
    dmi: DmiSettings = Field(default_factory=DmiSettings)
    energidataservice: EnergiDataServiceSettings = Field(default_factory=EnergiDataServiceSettings)
    # how often the scheduler looks whether a source is due
    tick_s: float = 30.0
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9119


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENERGIBLIK_", env_nested_delimiter="__", extra="ignore")

    db: DatabaseSettings = Field(default_factory=DatabaseSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    broker: BrokerFilesSettings = Field(default_factory=BrokerFilesSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    rollups: RollupSettings = Field(default_factory=RollupSettings)
    members: MembershipSettings = Field(default_factory=MembershipSettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    admin_token: SecretStr | None = None
    # the API's own Prometheus metrics (api/metrics.py), on a localhost port of their own; 0 turns them off
    api_metrics_host: str = "127.0.0.1"
    api_metrics_port: int = 9120
    timezone: str = "Europe/Copenhagen"
    log_level: str = "INFO"
    log_json: bool = True


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
