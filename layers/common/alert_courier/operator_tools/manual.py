"""`alert-courier ack|resolve|forget GROUP`: which group is meant (a group key, or an incident's reference, id or
printed key), the operator's confirmation, and the use case (`use_cases.manual_operations`) on the deployment's
own stores, ledger and incident.io key — so each effect happens once, whoever (dispatch, the scheduler, an
operator running it twice) gets there first."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from alert_courier.aws.dynamodb_stores import ActionLedger, DecisionHistory, GroupStateStore
from alert_courier.aws.history_index import HEARTBEAT_GROUP_PREFIX, HistoryLookups
from alert_courier.domain.group_state import GroupState, state_id_for
from alert_courier.domain.manual_operations import Operation, describe_group
from alert_courier.domain.rules import RuleSet
from alert_courier.operator_tools.cli_errors import CliError
from alert_courier.use_cases.manual_operations import ManualOperations, ManualResult
from alert_courier.use_cases.ports import ActionExecutor, Remaining

DEFAULT_API_KEY_SECRET = "alert-courier/incident-io-api-key"  # template.yaml's IncidentIoApiKeySecretName default
WHAT_IT_DOES = {
    "ack": "acknowledge its pages in incident.io and cancel its pending escalation levels",
    "resolve": "resolve its incident (as its rule's on_resolve says) and end the episode",
    "forget": "forget alert-courier's state of it (incident.io is not called): the next firing starts afresh",
}


def find_group(table: Any, name: str, sources: Sequence[str]) -> GroupState:
    """The one alert group `name` means: an incident it opened (reference, id, printed key), else its group key."""
    lookups = HistoryLookups(table)
    states = GroupStateStore(table)
    pointer = lookups.incident(name) or (lookups.incident(name.upper()) if name.upper() != name else None)
    if pointer is not None:
        group = str(pointer["points_to_group"])
        if group.startswith(HEARTBEAT_GROUP_PREFIX):
            heartbeat = group.removeprefix(HEARTBEAT_GROUP_PREFIX)
            raise CliError(f"{name} is the incident of heartbeat {heartbeat!r}, not of an alert group")
        return states.load(group)
    found = [state for state in (states.load(state_id_for(source, name)) for source in sources) if state.version]
    if not found:
        raise CliError(
            f"no alert group {name!r}: give its group key (see `alert-courier status`) or its incident (INC-12)"
        )
    if len(found) > 1:
        raise CliError(f"{name!r} is a group key in {', '.join(s.source for s in found)}: say which with --source")
    return found[0]


def confirm(operation: Operation, state: GroupState, *, assume_yes: bool, stdin: TextIO, stderr: TextIO) -> bool:
    """--yes, or the operator's `y` at a terminal; without a terminal (a script) --yes is required."""
    if assume_yes:
        return True
    if not stdin.isatty():
        raise CliError(f"refusing to {operation} without confirmation: no terminal to ask at; add --yes")
    stderr.write(f"group {state.group_key!r} ({state.source}): {describe_group(state)}\n")
    stderr.write(f"{operation}: {WHAT_IT_DOES[operation]}. Go ahead? [y/N] ")
    stderr.flush()
    return stdin.readline().strip().lower() in ("y", "yes")


def result_line(result: ManualResult) -> str:
    """What was done, in one line."""
    group = f"group {result.group_key!r}"
    if result.error:
        return f"{result.operation} {group} failed: {result.error} (nothing saved; run it again)"
    if not result.actions and not result.changed:
        return f"{result.operation} {group}: {result.reasons[-1]}"
    done = []
    for action, outcome in zip(result.actions, result.results, strict=False):
        again = " (already done: remembered)" if outcome.get("remembered") else ""
        if action["kind"] == "acknowledge_escalation" and outcome.get("refused"):
            done.append(f"page {action['escalation_id']} not acknowledged: incident.io refused ({outcome['refused']})")
        elif action["kind"] == "acknowledge_escalation":
            done.append(f"page {action['escalation_id']} acknowledged{again}")
        elif action["kind"] == "alert_event":
            done.append(f"alert event {action['deduplication_key']} resolved{again}")
        elif action["kind"] == "resolve_incident":
            what = "resolved" if action["close"] else "recovery posted, left open"
            done.append(f"incident {outcome.get('incident_reference') or action['incident_id']} {what}{again}")
    return f"{result.operation} {group}: " + "; ".join(done + result.reasons[1:])


@dataclass(frozen=True)
class IncidentIoAccess:
    """Where the deployment's MCP server is and how to read its key (the stack's parameters; the local stack's)."""

    mcp_url: str
    api_key_secret: str
    read_secret: Callable[[str], str]
    api_url: str = "https://api.incident.io"  # REST: the alert events a resolve sends
    alert_source_secret_prefix: str = "alert-courier/alert-sources/"


def incident_io_access(args: Any, client: Callable[[str], Any], local_endpoints: Callable[[], Any]) -> IncidentIoAccess:
    """`--local`: the simulator and the key seeded in the local Secrets Manager; `--stack`: the stack's
    `McpServerUrl` and `IncidentIoApiKeySecretName`; else MCP_SERVER_URL and INCIDENT_IO_API_KEY_SECRET."""

    def read_secret(name: str) -> str:
        return str(client("secretsmanager").get_secret_value(SecretId=name).get("SecretString", ""))

    if args.local:
        from alert_courier.operator_tools.local_stack_probe import ensure_local_simulator

        endpoints = local_endpoints()
        mcp_url = ensure_local_simulator(endpoints)
        return IncidentIoAccess(mcp_url, DEFAULT_API_KEY_SECRET, read_secret, api_url=endpoints.simulator_url)
    parameters: dict[str, str] = {}
    if args.stack:
        stack = client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0]
        parameters = {item["ParameterKey"]: item.get("ParameterValue", "") for item in stack.get("Parameters", [])}
    return IncidentIoAccess(
        parameters.get("McpServerUrl") or os.environ.get("MCP_SERVER_URL", "https://mcp.incident.io/mcp"),
        parameters.get("IncidentIoApiKeySecretName")
        or os.environ.get("INCIDENT_IO_API_KEY_SECRET", DEFAULT_API_KEY_SECRET),
        read_secret,
        api_url=os.environ.get("INCIDENT_IO_API_URL", "https://api.incident.io"),
        alert_source_secret_prefix=parameters.get("AlertSourceSecretPrefix") or "alert-courier/alert-sources/",
    )


class _Secrets:
    """A secrets provider (`.get(name)`) over the command's own Secrets Manager client (the deployment's endpoint)."""

    def __init__(self, read_secret: Callable[[str], str]) -> None:
        self._read = read_secret

    def get(self, name: str, **_options: Any) -> str:
        return self._read(name)


def incident_io_executor(access: IncidentIoAccess) -> ActionExecutor:
    """The deployment's incident.io: its MCP server with its key, and the REST alert-event endpoint."""
    from alert_courier.aws.alert_source_tokens import AlertSourceTokens
    from alert_courier.aws.api_key import ApiKeySource
    from alert_courier.incident_io.alert_events import IncidentIoRest
    from alert_courier.incident_io.executor import IncidentIoExecutor
    from alert_courier.incident_io.mcp_client import IncidentIoMcp
    from alert_courier.incident_io.retry_policy import RetryPolicy

    secrets = _Secrets(access.read_secret)
    tools = IncidentIoMcp(
        access.mcp_url,
        ApiKeySource(access.api_key_secret, provider=secrets),
        call_timeout_seconds=15,
        policy=RetryPolicy(max_attempts=3, budget_seconds=30),
    )
    rest = IncidentIoRest(access.api_url, AlertSourceTokens(access.alert_source_secret_prefix, provider=secrets))
    return IncidentIoExecutor(tools, rest)


def run_manual(
    operation: Operation,
    args: Any,
    *,
    table: Any,
    rules: RuleSet,
    access: Callable[[], IncidentIoAccess],
    sources: Sequence[str],
) -> int:
    state = find_group(table, args.group, sources)
    if not confirm(operation, state, assume_yes=args.yes, stdin=sys.stdin, stderr=sys.stderr):
        print(f"{operation} group {state.group_key!r}: not confirmed, nothing done", file=sys.stderr)
        return 1
    from alert_courier.incident_io.executor import IncidentIoExecutor
    from alert_courier.use_cases.runner import ActionRunner

    executor = IncidentIoExecutor(_NoIncidentIo()) if operation == "forget" else incident_io_executor(access())
    runner = ActionRunner(ActionLedger(table), executor)
    operations = ManualOperations(GroupStateStore(table), runner, DecisionHistory(table), lambda: rules)
    by = args.by or os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"
    result = operations.perform(operation, state.group_id, by=by, reason=args.reason or "")
    if args.json:
        print(json.dumps({**vars(result), "line": result_line(result)}, indent=2, default=str))
    else:
        print(result_line(result))
    return 1 if result.error else 0


class _NoIncidentIo:
    """`forget` calls nothing: a tool call through this is a bug, not a network error."""

    def input_schemas(self) -> dict[str, dict[str, Any]]:
        raise AssertionError("forget does not call incident.io")

    def call_tool(
        self,
        name: str,
        arguments: dict[str, Any],
        *,
        retry_ambiguous: bool = False,
        remaining_seconds: Remaining = None,
    ) -> dict[str, Any]:
        raise AssertionError("forget does not call incident.io")

    def read_resource(self, uri: str, *, remaining_seconds: Remaining = None) -> dict[str, Any]:
        raise AssertionError("forget does not call incident.io")
