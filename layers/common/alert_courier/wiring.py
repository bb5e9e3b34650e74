"""The one place the functions' objects are built from their settings: adapters, then the use cases on them.

Dispatch and the scheduler each call this once per container (module scope of their `app.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from alert_courier.aws.alert_source_tokens import AlertSourceTokens
from alert_courier.aws.api_key import ApiKeySource
from alert_courier.aws.call_budget_store import DynamoDbCallBudget
from alert_courier.aws.dynamodb_stores import (
    ActionLedger,
    DecisionHistory,
    EscalationTimers,
    GroupStateStore,
    HeartbeatStore,
)
from alert_courier.aws.inhibition_store import InhibitionStore
from alert_courier.aws.maintenance_store import MaintenanceStore
from alert_courier.aws.rules_source import RulesSource
from alert_courier.aws.storm_store import StormStore
from alert_courier.domain.alert import AlertEnvelope
from alert_courier.domain.rules import RuleSet
from alert_courier.incident_io.alert_events import IncidentIoRest
from alert_courier.incident_io.call_budget_gate import BudgetLimits, CallBudgetGate
from alert_courier.incident_io.executor import IncidentIoExecutor
from alert_courier.incident_io.mcp_client import IncidentIoMcp
from alert_courier.settings import IncidentIoSettings, SchedulerSettings
from alert_courier.use_cases.courier import Courier
from alert_courier.use_cases.escalation_checks import EscalationChecks
from alert_courier.use_cases.heartbeat_checks import HeartbeatChecks
from alert_courier.use_cases.inhibition import InhibitionEnds, InhibitionGate
from alert_courier.use_cases.maintenance import CachedWindows, MaintenanceGate, WindowEnds, WindowStore
from alert_courier.use_cases.ports import (
    AlertEventSender,
    Clock,
    GroupStates,
    HeartbeatForwarder,
    Heartbeats,
    History,
    IncidentTools,
    Ledger,
    Telemetry,
    Timers,
)
from alert_courier.use_cases.reconciliation import Reconciler
from alert_courier.use_cases.runner import ActionRunner
from alert_courier.use_cases.scheduler import Scheduler
from alert_courier.use_cases.storm import Handler, StormGate, StormJoins


@dataclass(frozen=True)
class IncidentIoEdge:
    incident_io: IncidentIoMcp
    rest: IncidentIoRest
    rules: RulesSource
    groups: GroupStateStore
    history: DecisionHistory
    runner: ActionRunner
    courier: Courier
    gate: MaintenanceGate  # the storm gate and courier behind the maintenance windows
    maintenance: MaintenanceStore
    entry: InhibitionGate  # dispatch's outermost entry: inhibition, then the maintenance gate
    inhibition: InhibitionStore


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
        budget=call_budget_gate(settings, table, telemetry),
    )
    rest = IncidentIoRest(
        settings.incident_io_api_url,
        AlertSourceTokens(settings.alert_source_secret_prefix),
        before_first_request=before_first_rest_request,
    )
    rules = RulesSource(settings.rules_file, settings.rules_parameter, telemetry=telemetry)
    groups, history = GroupStateStore(table), DecisionHistory(table)
    runner = runner_on(
        ActionLedger(table, remember_days=settings.action_memory_days), incident_io, rest, telemetry=telemetry
    )
    courier = Courier(groups, runner, history, rules)
    storms = StormGate(courier, StormStore(table), groups, rules, telemetry=telemetry)  # storm collapse
    maintenance = MaintenanceStore(table)
    gate = maintenance_gate(
        storms, maintenance, history, rules, cache_seconds=settings.maintenance_cache_seconds, telemetry=telemetry
    )
    inhibition = InhibitionStore(table)
    entry = InhibitionGate(gate, inhibition, history, rules, telemetry=telemetry)
    return IncidentIoEdge(
        incident_io, rest, rules, groups, history, runner, courier, gate, maintenance, entry, inhibition
    )


def maintenance_gate(
    courier: Handler,
    store: WindowStore,
    history: History,
    rules: Callable[[], RuleSet],
    *,
    cache_seconds: float,
    clock: Clock | None = None,
    telemetry: Telemetry | None = None,
) -> MaintenanceGate:
    """The courier behind the maintenance windows, read from `store` at most every `cache_seconds`."""
    windows = CachedWindows(store, seconds=cache_seconds)
    return MaintenanceGate(
        courier, store, windows, history, rules, clock=clock or (lambda: datetime.now(UTC)), telemetry=telemetry
    )


def call_budget_gate(settings: IncidentIoSettings, table: Any, telemetry: Telemetry) -> CallBudgetGate | None:
    if not settings.call_budget_per_minute:
        return None
    limits = BudgetLimits(
        requests_per_minute=settings.call_budget_per_minute,
        pages_per_minute=settings.page_budget_per_minute,
        max_wait_seconds=settings.call_budget_max_wait_seconds,
    )
    return CallBudgetGate(DynamoDbCallBudget(table), limits, telemetry=telemetry)


def scheduler_on(edge: IncidentIoEdge, table: Any, settings: SchedulerSettings, telemetry: Telemetry) -> Scheduler:
    """The scheduled checks on the same runner (and so the same ledger and executor) as dispatch."""
    return scheduler_with(
        edge.runner,
        groups=edge.groups,
        timers=EscalationTimers(table),
        heartbeats=HeartbeatStore(table),
        history=edge.history,
        rules=edge.rules,
        forwarder=edge.rest,
        telemetry=telemetry,
        max_timers=settings.max_timers_per_run,
        window_ends=WindowEnds(
            edge.gate,
            edge.maintenance,
            settle_after=timedelta(seconds=2 * settings.maintenance_cache_seconds + 30),
            dead_letter=held_dead_letters(settings.dead_letter_queue_url),
            entry=edge.entry,  # what a window held is still checked for inhibition at its end
        ),
        inhibition_ends=InhibitionEnds(
            edge.entry, edge.inhibition, dead_letter=held_dead_letters(settings.dead_letter_queue_url)
        ),
        reconciler=reconciler_on(edge, settings, telemetry) if settings.reconcile_every_minutes else None,
        reconcile_every=timedelta(minutes=settings.reconcile_every_minutes),
        storm_joins=StormJoins(StormStore(table), edge.groups, edge.rules, telemetry=telemetry),
    )


def reconciler_on(edge: IncidentIoEdge, settings: SchedulerSettings, telemetry: Telemetry) -> Reconciler:
    """The reconcile pass on dispatch's courier: CloudWatch (this account, others through their roles), the
    rules' Alertmanager/Grafana APIs (credentials under `reconcile_secret_prefix`), incident.io's statuses."""
    import os

    from alert_courier.aws.alertmanager_api import AlertmanagerActiveAlerts, secret_reader
    from alert_courier.aws.cloudwatch_alarms import CloudWatchAlarmStates, boto3_clients, parse_role_arns
    from alert_courier.incident_io.incident_statuses import IncidentIoStatuses

    secrets = secret_reader(settings.reconcile_secret_prefix)
    return Reconciler(
        courier=edge.courier,
        sources=edge.entry.hear,
        states=edge.groups,
        open_groups=edge.groups,
        history=edge.history,
        rules=edge.rules,
        truths=[
            CloudWatchAlarmStates(
                boto3_clients(os.environ.get("AWS_ENDPOINT_URL")),
                role_arns=parse_role_arns(settings.reconcile_role_arns),
            ),
            AlertmanagerActiveAlerts("alertmanager", edge.rules, secrets),
            AlertmanagerActiveAlerts("grafana", edge.rules, secrets),
        ],
        incidents=IncidentIoStatuses(edge.incident_io, telemetry),
        telemetry=telemetry,
        requeue=alert_requeue(settings.alert_queue_url),
    )


def alert_requeue(queue_url: str) -> Callable[[AlertEnvelope], None] | None:
    """Dispatch's queue, for a reconciled alert the pass could not finish (redelivered until done, or DLQ'd)."""
    if not queue_url:
        return None
    import boto3

    from alert_courier.aws.alert_queue import AlertQueue

    queue = AlertQueue(boto3.client("sqs"), queue_url)

    def requeue(envelope: AlertEnvelope) -> None:
        queue.enqueue([envelope])

    return requeue


def held_dead_letters(queue_url: str) -> Callable[[AlertEnvelope, str], None] | None:
    """Where the scheduler puts a held alert that can never be acted on (None: it stays held, reported)."""
    if not queue_url:
        return None
    import boto3

    from alert_courier.aws.alert_queue import fitted_body, message_group_id
    from alert_courier.aws.dead_letters import DeadLetters

    dead_letters = DeadLetters(boto3.client("sqs"), queue_url)

    def send(envelope: AlertEnvelope, reason: str) -> None:
        body, group = fitted_body(envelope), message_group_id(envelope)  # as dispatch's own dead letters
        dead_letters.send(body, group_id=group, source_message_id=envelope.alert.transition_id(), reason=reason)

    return send


def runner_on(
    ledger: Ledger,
    tools: IncidentTools,
    alert_events: AlertEventSender | None = None,
    *,
    telemetry: Telemetry | None = None,
) -> ActionRunner:
    """Actions performed once (the ledger) against incident.io (the executor over its tools and REST events)."""
    return ActionRunner(ledger, IncidentIoExecutor(tools, alert_events, telemetry), telemetry)


def scheduler_with(
    runner: ActionRunner,
    *,
    groups: GroupStates,
    timers: Timers,
    heartbeats: Heartbeats,
    history: History,
    rules: Callable[[], RuleSet],
    forwarder: HeartbeatForwarder | None = None,
    clock: Clock | None = None,
    telemetry: Telemetry | None = None,
    max_timers: int = 100,
    window_ends: WindowEnds | None = None,
    inhibition_ends: InhibitionEnds | None = None,
    reconciler: Reconciler | None = None,
    reconcile_every: timedelta = timedelta(minutes=5),
    storm_joins: StormJoins | None = None,
) -> Scheduler:
    return Scheduler(
        heartbeats=HeartbeatChecks(
            runner=runner, heartbeats=heartbeats, history=history, rules=rules, forwarder=forwarder
        ),
        escalations=EscalationChecks(
            runner=runner,
            groups=groups,
            timers=timers,
            history=history,
            max_timers=max_timers,
            storm_joins=storm_joins,
        ),
        clock=clock or (lambda: datetime.now(UTC)),
        telemetry=telemetry,
        window_ends=window_ends,
        inhibition_ends=inhibition_ends,
        reconciler=reconciler,
        reconcile_every=reconcile_every,
    )
