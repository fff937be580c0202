"""Settings from the environment (KOJI_*), overridable by command-line flags."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///koji.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOJI_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    listen: str = "127.0.0.1:50051"
    log_level: str = "INFO"
    shutdown_grace_seconds: float = 5.0
