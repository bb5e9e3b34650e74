"""Typed configuration read once per container from the environment, so a missing variable fails at init.

Each field is read from the environment variable of the same name in upper case. Plain pydantic models
rather than pydantic-settings: that package added ~90 ms to every cold start (measured, README "Benchmarks")
for features we do not use (dotenv files, nested sources, secrets directories).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Self

from pydantic import BaseModel, ConfigDict, Field


class EnvironmentSettings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Raises pydantic's ValidationError naming every missing or malformed variable."""
        by_name = {name.upper(): value for name, value in (os.environ if environ is None else environ).items()}
        present = {field: by_name[field.upper()] for field in cls.model_fields if field.upper() in by_name}
        return cls.model_validate(present)


class IngestSettings(EnvironmentSettings):
    alert_queue_url: str
    webhook_secret_prefix: str = "alert-courier/webhooks/"
    max_body_bytes: int = Field(default=6 * 1024 * 1024, gt=0)
    state_table_name: str = ""
    cloudwatch_topic_arns: str = Field(
        default="", description="comma-separated SNS topic ARNs whose HTTPS deliveries are confirmed and accepted"
    )
    # Heartbeat pings are checked against the names the rules declare (read on the first ping only).
    rules_file: str = Field(default="", description="path of a rules file; default: the bundled one")
    rules_parameter: str = Field(default="", description="SSM parameter whose value overrides the rules file")

    @property
    def cloudwatch_topics(self) -> frozenset[str]:
        return frozenset(arn.strip() for arn in self.cloudwatch_topic_arns.split(",") if arn.strip())


class IncidentIoSettings(EnvironmentSettings):
    """What every function that acts on incident.io needs (dispatch and the scheduler)."""

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
    call_budget_per_minute: int = Field(
        default=1000, ge=0, description="incident.io requests a minute shared by every container; 0: no budget"
    )
    page_budget_per_minute: int = Field(default=50, gt=0, description="pages a minute (incident.io allows 60)")
    call_budget_max_wait_seconds: float = Field(
        default=5.0, ge=0, description="longest wait for the budget inside one invocation; longer: retried later"
    )
    maintenance_cache_seconds: float = Field(
        default=30.0, ge=0, description="how long a container reuses its read of the maintenance windows"
    )


class DispatchSettings(IncidentIoSettings):
    dead_letter_queue_url: str


@lru_cache(maxsize=1)
def ingest_settings() -> IngestSettings:
    return IngestSettings.from_environment()


@lru_cache(maxsize=1)
def dispatch_settings() -> DispatchSettings:
    return DispatchSettings.from_environment()


class SchedulerSettings(IncidentIoSettings):
    max_timers_per_run: int = Field(default=100, gt=0, description="escalation timers handled per invocation")
    dead_letter_queue_url: str = Field(default="", description="for held alerts a window's end cannot act on")
    reconcile_every_minutes: float = Field(default=5, ge=0, description="the reconcile pass's period; 0: off")
    reconcile_role_arns: str = Field(default="", description="IAM roles (comma-separated) to read other accounts")
    reconcile_secret_prefix: str = "alert-courier/reconcile/"
    alert_queue_url: str = Field(default="", description="where a reconciled alert the pass could not finish goes")


@lru_cache(maxsize=1)
def scheduler_settings() -> SchedulerSettings:
    return SchedulerSettings.from_environment()
