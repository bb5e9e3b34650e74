"""Typed configuration read once per container from the environment, so a missing variable fails at init."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    alert_queue_url: str
    webhook_secret_prefix: str = "alert-courier/webhooks/"
    max_body_bytes: int = Field(default=6 * 1024 * 1024, gt=0)
    state_table_name: str = ""
    cloudwatch_topic_arns: str = Field(
        default="", description="comma-separated SNS topic ARNs whose HTTPS deliveries are confirmed and accepted"
    )

    @property
    def cloudwatch_topics(self) -> frozenset[str]:
        return frozenset(arn.strip() for arn in self.cloudwatch_topic_arns.split(",") if arn.strip())


class IncidentIoSettings(BaseSettings):
    """What every function that acts on incident.io needs (dispatch and the scheduler)."""

    model_config = SettingsConfigDict(extra="ignore")

    state_table_name: str
    incident_io_api_key_secret: str
    mcp_server_url: str = "https://mcp.incident.io/mcp"
    mcp_protocol_mode: str = Field(default="auto", description="auto | legacy | a modern version such as 2026-07-28")
    mcp_call_timeout_seconds: float = Field(default=15.0, gt=0)
    rules_file: str = Field(default="", description="path of a rules file; default: the bundled one")
    rules_parameter: str = Field(default="", description="SSM parameter whose value overrides the rules file")
    alert_source_secret_prefix: str = "alert-courier/alert-sources/"
    incident_io_api_url: str = "https://api.incident.io"
    action_memory_days: int = Field(default=14, gt=0, description="how long a completed action is remembered")


class DispatchSettings(IncidentIoSettings):
    dead_letter_queue_url: str


@lru_cache(maxsize=1)
def ingest_settings() -> IngestSettings:
    return IngestSettings()  # type: ignore[call-arg]


@lru_cache(maxsize=1)
def dispatch_settings() -> DispatchSettings:
    return DispatchSettings()  # type: ignore[call-arg]
