"""All runtime settings, read once from ``FQ_*`` environment variables.

Every default is chosen so that ``fengqiao up`` works on one machine with a local RabbitMQ.
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DIRECTORY = Path(__file__).parent / "data" / "directory.json"
DEFAULT_DEADLINES = Path(__file__).parent / "data" / "deadlines.yaml"
DEFAULT_ACCESS_POLICY = Path(__file__).parent / "data" / "access.yaml"


# Public events are structured CloudEvents: the webhooks service's consumer must accept them.
CLOUDEVENTS_SERIALIZER = {
    "SERIALIZERS": {"cloudevents": {"encoder": "json.dumps", "decoder": "json.loads",
                                    "content_type": "application/cloudevents+json", "content_encoding": "utf-8"}},
    "ACCEPT": ["json", "cloudevents"],
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FQ_", extra="ignore")

    amqp_uri: str = Field("amqp://guest:guest@127.0.0.1:5672/", description="RabbitMQ broker")
    data_dir: Path = Field(Path("var"), description="embedded store, search index and logs")
    store_uri: str = Field(
        "", description="sqlite:///<dir> or mongodb://…; empty means sqlite under FQ_DATA_DIR/store"
    )
    search_uri: str = Field(
        "", description="sqlite:///<dir> or http(s)://elasticsearch; empty means FQ_DATA_DIR/search"
    )
    gateway_host: str = Field("127.0.0.1", description="address the gateway listens on")
    gateway_port: int = Field(8000, description="port the gateway listens on")
    metrics_host: str = Field("127.0.0.1", description="address of the services' /metrics")
    metrics_port: int = Field(9100, description="port of the services' /metrics; 0 = off")
    service_processes: dict[str, int] = Field(
        {}, description='`fengqiao up`: worker processes of a service competing on its queues, as JSON '
                        '(e.g. {"search": 2}); a service not named runs one')
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    bootstrap_admin_key: str | None = Field(
        None, description="creates (or keeps) an admin API key with this secret at gateway start"
    )
    directory_file: Path = Field(DEFAULT_DIRECTORY, description="regions and units (JSON)")
    rpc_timeout_seconds: float = Field(10.0, description="gateway → service RPC timeout")
    max_body_mb: int = Field(16, ge=1, description="largest request body the gateway reads, in MB (a 1,000-item "
                                                   "batch fits); ledger uploads have their own 50 MB")
    publish_timeout_seconds: float = Field(5.0, description="wait for the broker's confirm")
    import_chunk_rows: int = Field(1000, ge=1, le=10_000, description="a ledger import's rows stored and sent "
                                   "per step; a gateway restarted mid-import resumes from its first unsent chunk")
    delivery_limit: int = Field(5, description="deliveries before a failing message is dead-lettered")
    chunk_events: int = Field(100, ge=1, le=1000, description="events a chunk consumer (intake's single "
                              "reports, routing, search, mediation's assignments, webhooks) takes in one unit "
                              "of work; a chunk that fails is handled again one event at a time")
    chunk_linger_seconds: float = Field(0.005, ge=0, le=1, description="how long a consumer waits for more "
                                        "events before it handles a chunk that is not full")
    deadline_policy_file: Path = Field(DEFAULT_DEADLINES, description="deadline policy (YAML)")
    deadline_scan_seconds: float = Field(30.0, description="how often routing looks for due deadlines")
    mediation_target_days: int = Field(30, description="days a mediation should take (warned before)")
    followup_visit_days: int = Field(7, description="days after resolution by which the visit is due")
    document_font: Path | None = Field(
        None, description="CJK TrueType font for agreement PDFs; empty means the first of WenQuanYi "
                          "Micro Hei or Noto Sans CJK found in /usr/share/fonts")
    clock_file: Path | None = Field(None, description="tests only: read the current time from this file")
    outbox_relay_seconds: float = Field(1.0, gt=0, description="how often each service's relay looks for "
                                                               "events left unpublished")
    outbox_grace_seconds: float = Field(5.0, ge=0, description="an event older than this and still in the "
                                                             "outbox is published by the relay")
    outbox_publish_on_commit: bool = Field(True, description="publish right after the commit (false: only the "
                                                             "relay publishes, later and in batches)")
    webhook_retry_seconds: str = Field("5,300,1800,7200,18000,36000,36000",
                                       description="waits (s) after each failed webhook attempt; then dead-lettered")
    webhook_timeout_seconds: float = Field(15.0, gt=0, description="how long a partner has to answer a delivery")
    webhook_per_subscription: int = Field(4, ge=1, description="deliveries in flight per partner")
    webhook_disable_after_days: float = Field(5.0, gt=0, description="a partner failing this long is switched off")
    webhook_allow_private: bool = Field(False, description="let webhooks go to loopback and private addresses "
                                                           "(tests, an isolated government network)")
    webhook_scan_seconds: float = Field(1.0, gt=0, description="how often the webhooks service looks for due "
                                                              "deliveries and retries")
    rabbit_management_url: str = Field("", description="RabbitMQ's management API, for `fengqiao agencies add`; "
                                                        "empty: port 15672 of the broker's host")
    public_source: str = Field("/fengqiao", description="the CloudEvents source of public events, before the "
                                                        "service's name (e.g. /fengqiao/150100 for a city)")
    access_policy_file: Path = Field(DEFAULT_ACCESS_POLICY, description="roles and their permissions (YAML)")
    auth_secret: str | None = Field(
        None, description="signs staff tokens and keys the API-key digests; empty: generated once and kept "
                          "in the gateway's store (set it from a Secret when several gateways share a store)")
    screen_keepalive_seconds: float = Field(15.0, gt=0, description="a wall's stream sends a keep-alive comment "
                                            "after this long without an update")
    screen_refresh_seconds: float = Field(60.0, gt=0, description="walls are redrawn this often without "
                                          "events too (time moves cases into the next 24 hours and the day on), "
                                          "and their hot matters fetched afresh")
    access_token_minutes: int = Field(15, ge=1, le=24 * 60, description="lifetime of a staff access token")
    refresh_token_hours: int = Field(12, ge=1, le=24 * 30, description="lifetime of a staff refresh token")

    @cached_property
    def resolved_store_uri(self) -> str:
        return self.store_uri or f"sqlite:///{(self.data_dir / 'store').resolve()}"

    @cached_property
    def resolved_search_uri(self) -> str:
        return self.search_uri or f"sqlite:///{(self.data_dir / 'search').resolve()}"

    def nameko_config(self) -> dict:
        """The config dict nameko containers and standalone proxies expect."""
        return {
            "AMQP_URI": self.amqp_uri,
            "serializer": "json",
            "max_workers": 10,
            "FQ_STORE_URI": self.resolved_store_uri,
            "FQ_SEARCH_URI": self.resolved_search_uri,
            "FQ_DIRECTORY_FILE": str(self.directory_file),
            "FQ_DELIVERY_LIMIT": self.delivery_limit,
            "FQ_CHUNK_EVENTS": self.chunk_events,
            "FQ_CHUNK_LINGER_SECONDS": self.chunk_linger_seconds,
            "FQ_DEADLINE_POLICY_FILE": str(self.deadline_policy_file),
            "FQ_DEADLINE_SCAN_SECONDS": self.deadline_scan_seconds,
            "FQ_MEDIATION_TARGET_DAYS": self.mediation_target_days,
            "FQ_FOLLOWUP_VISIT_DAYS": self.followup_visit_days,
            "FQ_OUTBOX_RELAY_SECONDS": self.outbox_relay_seconds,
            "FQ_OUTBOX_GRACE_SECONDS": self.outbox_grace_seconds,
            "FQ_OUTBOX_PUBLISH_ON_COMMIT": self.outbox_publish_on_commit,
            "FQ_WEBHOOK_RETRY_SECONDS": self.webhook_retry_seconds,
            "FQ_WEBHOOK_TIMEOUT_SECONDS": self.webhook_timeout_seconds,
            "FQ_WEBHOOK_PER_SUBSCRIPTION": self.webhook_per_subscription,
            "FQ_WEBHOOK_DISABLE_AFTER_DAYS": self.webhook_disable_after_days,
            "FQ_WEBHOOK_ALLOW_PRIVATE": str(self.webhook_allow_private).lower(),
            "FQ_WEBHOOK_SCAN_SECONDS": self.webhook_scan_seconds,
            "FQ_PUBLIC_SOURCE": self.public_source,
            **CLOUDEVENTS_SERIALIZER,
            **({"FQ_CLOCK_FILE": str(self.clock_file)} if self.clock_file else {}),
        }

    def clock(self):
        from fengqiao.clock import FileClock, SystemClock

        return FileClock(self.clock_file) if self.clock_file else SystemClock()


def service_setting(config: Mapping, key: str):
    """A setting as a service reads it from its nameko config: the value `Settings.nameko_config`
    put there, or, for containers made in tests with a partial config, the documented default
    (each default is written once, on its field). ``FQ_DELIVERY_LIMIT`` is ``delivery_limit``."""
    if key in config:
        return config[key]
    return Settings.model_fields[key.removeprefix("FQ_").lower()].default


def flag(value) -> bool:
    """A boolean setting, whether it came as a bool or as the "true"/"false" the config carries."""
    return str(value).lower() == "true"


def load_settings(**overrides) -> Settings:
    return Settings(**overrides)
