"""`alert-courier reconcile [--dry-run] (--local|--stack NAME)`: the scheduler's reconcile pass, run by an operator on
the deployment's own stores, rules, CloudWatch (its `ReconcileRoleArns`), Alertmanager APIs and incident.io key.

`--dry-run` reads what the pass reads (the open groups, CloudWatch, the Alertmanager APIs, incident.io's incident
statuses) and decides with `decide_alert` exactly as the pass does, but acts on nothing and saves nothing: what it
prints is what a real pass then does (the same lines), unless the world changes in between.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from alert_courier.domain.alert import AlertEnvelope
from alert_courier.domain.rules import RuleSet
from alert_courier.operator_tools.manual import IncidentIoAccess, _Secrets
from alert_courier.use_cases.reconciliation import Reconciler, ReconcileReport


def reconciler_for(
    *,
    table: Any,
    rules: RuleSet,
    access: IncidentIoAccess,
    client: Callable[[str], Any],
    endpoint_url: str | None,
    role_arns: str,
    secret_prefix: str,
    queue_url: str = "",
) -> Reconciler:
    from alert_courier.aws.alert_source_tokens import AlertSourceTokens
    from alert_courier.aws.alertmanager_api import AlertmanagerActiveAlerts
    from alert_courier.aws.api_key import ApiKeySource
    from alert_courier.aws.cloudwatch_alarms import CloudWatchAlarmStates, boto3_clients, parse_role_arns
    from alert_courier.aws.dynamodb_stores import ActionLedger, DecisionHistory, GroupStateStore
    from alert_courier.incident_io.alert_events import IncidentIoRest
    from alert_courier.incident_io.executor import IncidentIoExecutor
    from alert_courier.incident_io.incident_statuses import IncidentIoStatuses
    from alert_courier.incident_io.mcp_client import IncidentIoMcp
    from alert_courier.incident_io.retry_policy import RetryPolicy
    from alert_courier.use_cases.courier import Courier
    from alert_courier.use_cases.runner import ActionRunner

    secrets = _Secrets(access.read_secret)
    tools = IncidentIoMcp(
        access.mcp_url,
        ApiKeySource(access.api_key_secret, provider=secrets),
        call_timeout_seconds=15,
        policy=RetryPolicy(max_attempts=3, budget_seconds=30),
    )
    rest = IncidentIoRest(access.api_url, AlertSourceTokens(access.alert_source_secret_prefix, provider=secrets))
    states, history = GroupStateStore(table), DecisionHistory(table)
    courier = Courier(
        states, ActionRunner(ActionLedger(table), IncidentIoExecutor(tools, rest)), history, lambda: rules
    )

    def reconcile_secret(name: str) -> str:
        return access.read_secret(f"{secret_prefix}{name}")

    return Reconciler(
        courier=courier,
        states=states,
        open_groups=states,
        history=history,
        rules=lambda: rules,
        truths=[
            CloudWatchAlarmStates(boto3_clients(endpoint_url), role_arns=parse_role_arns(role_arns)),
            AlertmanagerActiveAlerts("alertmanager", lambda: rules, reconcile_secret),
            AlertmanagerActiveAlerts("grafana", lambda: rules, reconcile_secret),
        ],
        incidents=IncidentIoStatuses(tools),
        requeue=_requeue(client, queue_url),
    )


def _requeue(client: Callable[[str], Any], queue_url: str) -> Callable[[AlertEnvelope], None] | None:
    """A change the pass could not finish goes to dispatch's queue, as the scheduler's does."""
    if not queue_url:
        return None
    from alert_courier.aws.alert_queue import AlertQueue

    queue = AlertQueue(client("sqs"), queue_url)

    def requeue(envelope: AlertEnvelope) -> None:
        queue.enqueue([envelope])

    return requeue


def print_report(report: ReconcileReport, *, dry_run: bool, as_json: bool) -> int:
    if as_json:
        print(
            json.dumps(
                {
                    "dry_run": dry_run,
                    "groups_checked": report.groups_checked,
                    "changes": [{**asdict(change), "line": change.line()} for change in report.changes],
                    "errors": report.errors,
                },
                indent=2,
            )
        )
    else:
        for change in report.changes:
            print(change.line())
        for error in report.errors:
            print(f"error: {error}")
        verb = "a real pass would make now" if dry_run else "made"
        print(f"{len(report.changes)} change(s) {verb}; {report.groups_checked} group(s) held open checked")
    return 1 if report.errors else 0
