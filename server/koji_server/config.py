"""Settings from the environment (KOJI_*), overridable by command-line flags."""

from __future__ import annotations

import os

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///koji.db"
LOG_FORMATS = ("json", "text")
# SQLite's `synchronous` setting for storage.database's writer (KOJI_SQLITE_SYNCHRONOUS).
# FULL: a commit is fsynced before it is acknowledged, so an answered write
# survives an OS crash or power cut (group commits make one fsync serve a
# whole batch). NORMAL (WAL): survives a process crash (kill -9); an OS crash
# or power cut can roll back the last commits.
SYNCHRONOUS_MODES = ("FULL", "NORMAL")
DEFAULT_SYNCHRONOUS = "FULL"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOJI_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    listen: str = "127.0.0.1:50051"
    log_level: str = "INFO"
    # "json" (one object per line) or "text" (for reading locally).
    log_format: str = "json"
    # host:port of the Prometheus endpoint; empty turns it off.
    metrics_listen: str = "127.0.0.1:9464"
    # FULL: an acknowledged write survives an OS crash or power cut; NORMAL:
    # only a process crash (see storage.database).
    sqlite_synchronous: str = DEFAULT_SYNCHRONOUS
    shutdown_grace_seconds: float = 5.0
    # A revoked key is refused within this many seconds (authenticated keys are cached).
    auth_cache_seconds: float = 2.0
    # Completed, analysed interviews are served from memory this long.
    final_interview_cache_seconds: float = 60.0
    # Signs ListInterviews' page tokens. Empty: a random secret per process
    # (set one shared secret when several server processes serve one database).
    page_token_secret: str = ""
    # Live streams: an idle stream gets a heartbeat event this often (proxies
    # cut streams idle for longer than theirs: Envoy's is 60 s here, many
    # others' 30 s or more), and an API key may hold this many watch streams
    # open at once (in each server process).
    stream_heartbeat_seconds: float = 10.0
    watch_streams_per_key: int = 100
    # The post-completion pipeline (analysis worker inside the server).
    pipeline_enabled: bool = True
    pipeline_concurrency: int = 2
    pipeline_poll_seconds: float = 0.5
    analysis_workers: int = 1
    # CPUs the analysis processes run on, e.g. "1" or "2,3" (default: any).
    # Keeps the CPU-heavy analysis off the core that runs the event loop.
    analysis_cpus: str = ""
    # A claimed job whose runner is silent this long is claimed again.
    job_lease_seconds: float = 30.0
    job_max_attempts: int = 5
    job_retry_base_seconds: float = 1.0
    # Webhook delivery.
    webhook_concurrency: int = 8
    webhook_timeout_seconds: float = 5.0
    webhook_max_retries: int = 3
    webhook_retry_base_seconds: float = 1.0
    webhook_lease_seconds: float = 30.0
    # Deliver to loopback and private-network addresses (link-local and cloud
    # metadata addresses are refused regardless).
    webhook_allow_private_networks: bool = False
    # Interview links (docs/links.md): the base of their urls (where Envoy is
    # reached from respondents' browsers), and the starts without an API key
    # allowed a minute from one client address and on one link.
    public_url: str = "http://127.0.0.1:8080"
    link_starts_per_address: int = 10
    link_starts_per_link: int = 120

    @field_validator("sqlite_synchronous")
    @classmethod
    def _known_synchronous(cls, value: str) -> str:
        if value.upper() not in SYNCHRONOUS_MODES:
            raise ValueError(f"expected one of {', '.join(SYNCHRONOUS_MODES)}, got {value!r}")
        return value.upper()

    @field_validator("stream_heartbeat_seconds")
    @classmethod
    def _heartbeat_range(cls, value: float) -> float:
        if not 0 < value <= 15:
            raise ValueError(f"expected seconds above 0 and at most 15, got {value}")
        return value

    @field_validator("watch_streams_per_key")
    @classmethod
    def _positive_streams(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"expected at least 1, got {value}")
        return value

    @field_validator("log_format")
    @classmethod
    def _known_log_format(cls, value: str) -> str:
        if value not in LOG_FORMATS:
            raise ValueError(f"expected one of {', '.join(LOG_FORMATS)}, got {value!r}")
        return value

    @field_validator("metrics_listen")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if value and (not host or not port.isdigit()):
            raise ValueError(f"expected HOST:PORT, or empty to turn metrics off; got {value!r}")
        return value

    @field_validator("analysis_cpus")
    @classmethod
    def _known_cpus(cls, value: str) -> str:
        parse_cpus(value)
        return value

    @property
    def analysis_cpu_set(self) -> frozenset[int] | None:
        return parse_cpus(self.analysis_cpus)


def parse_cpus(value: str) -> frozenset[int] | None:
    """ "1,2" -> {1, 2}; "" -> None (any CPU). Each must exist on this machine."""
    if not value.strip():
        return None
    try:
        cpus = frozenset(int(part) for part in value.split(","))
    except ValueError:
        raise ValueError(f"expected CPU numbers separated by commas, got {value!r}") from None
    available = os.cpu_count() or 1
    unknown = sorted(cpu for cpu in cpus if not 0 <= cpu < available)
    if unknown:
        raise ValueError(f"no such CPU {unknown} (this machine has 0-{available - 1})")
    return cpus
