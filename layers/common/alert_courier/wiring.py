"""Builds the adapters dispatch and the scheduler share, once per container, from their settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alert_courier.aws.api_key import ApiKeySource
from alert_courier.aws.dynamodb_stores import ActionLedger, DecisionHistory, GroupStateStore
from alert_courier.aws.rules_source import RulesSource
from alert_courier.incident_io.alert_events import AlertSourceTokens, IncidentIoRest
from alert_courier.incident_io.mcp_client import IncidentIoMcp
from alert_courier.settings import IncidentIoSettings
from alert_courier.use_cases.courier import Courier
from alert_courier.use_cases.telemetry import Telemetry


@dataclass(frozen=True)
class IncidentIoEdge:
    incident_io: IncidentIoMcp
    rest: IncidentIoRest
    rules: RulesSource
    groups: GroupStateStore
    history: DecisionHistory
    courier: Courier


def incident_io_edge(
    settings: IncidentIoSettings,
    table: Any,
    telemetry: Telemetry,
    *,
    before_first_rest_request: Callable[[], None] | None = None,
) -> IncidentIoEdge:
    incident_io = IncidentIoMcp(
        settings.mcp_server_url,
        ApiKeySource(settings.incident_io_api_key_secret),
        mode=settings.mcp_protocol_mode,
        call_timeout_seconds=settings.mcp_call_timeout_seconds,
    )
    rest = IncidentIoRest(
        settings.incident_io_api_url,
        AlertSourceTokens(settings.alert_source_secret_prefix),
        before_first_request=before_first_rest_request,
    )
    rules = RulesSource(settings.rules_file, settings.rules_parameter)
    groups, history = GroupStateStore(table), DecisionHistory(table)
    courier = Courier(
        groups,
        ActionLedger(table, remember_days=settings.action_memory_days),
        history,
        incident_io,
        rules,
        alert_events=rest,
        telemetry=telemetry,
    )
    return IncidentIoEdge(incident_io, rest, rules, groups, history, courier)
