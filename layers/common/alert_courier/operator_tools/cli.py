"""The `alert-courier` command: operator tools for a deployment or the local stack."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alert_courier.operator_tools.cli_errors import CliError, one_line_message
from alert_courier.operator_tools.local_settings import LocalEndpoints, LocalSettingError


@dataclass(frozen=True)
class Deployment:
    queue_url: str
    dlq_url: str
    table_name: str
    endpoint_url: str | None = None
    rules_parameter: str = ""  # the stack's RulesParameter: an SSM override of the shipped rules


def _client(service: str, deployment: Deployment) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=deployment.endpoint_url)


def local_endpoints() -> LocalEndpoints:
    """Where `make run` listens, from the same LOCAL_* variables the stack reads."""
    try:
        return LocalEndpoints.from_environ()
    except LocalSettingError as error:
        raise CliError(str(error)) from None


def find_local_deployment() -> Deployment:
    from alert_courier.operator_tools.local_stack_probe import TABLE_NAME, find_local_queues

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    endpoints = local_endpoints()
    queues = find_local_queues(endpoints)
    return Deployment(queues.queue_url, queues.dead_letter_queue_url, TABLE_NAME, endpoints.aws_endpoint)


def find_deployment(args: argparse.Namespace) -> Deployment:
    if args.local:
        return find_local_deployment()
    if args.stack:
        import boto3

        stack = boto3.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0]
        outputs = {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}
        parameters = {item["ParameterKey"]: item.get("ParameterValue", "") for item in stack.get("Parameters", [])}
        return Deployment(
            outputs["AlertQueueUrl"],
            outputs["AlertDeadLetterQueueUrl"],
            outputs["StateTableName"],
            rules_parameter=parameters.get("RulesParameter", ""),
        )
    missing = [
        name for name in ("ALERT_QUEUE_URL", "DEAD_LETTER_QUEUE_URL", "STATE_TABLE_NAME") if not os.environ.get(name)
    ]
    if missing:
        raise CliError(f"say where the deployment is: --stack NAME, --local, or set {', '.join(missing)}")
    return Deployment(
        os.environ["ALERT_QUEUE_URL"], os.environ["DEAD_LETTER_QUEUE_URL"], os.environ["STATE_TABLE_NAME"]
    )


def _dlq(deployment: Deployment) -> Any:
    from alert_courier.operator_tools.operations import DeadLetterQueue

    return DeadLetterQueue(_client("sqs", deployment), deployment.dlq_url, deployment.queue_url)


def cmd_dlq(args: argparse.Namespace) -> int:
    deployment = find_deployment(args)
    queue = _dlq(deployment)
    if args.dlq_command == "list":
        letters = queue.peek()
        if args.json:
            print(json.dumps([letter.summary() for letter in letters], indent=2))
        else:
            for letter in letters:
                s = letter.summary()
                print(
                    f"{s['message_id']}  {s['source']}/{s['dedup_key']} {s['status']}  {s['title']!r}\n"
                    f"    reason: {s['reason']}"
                )
            print(f"{len(letters)} message(s) in the dead-letter queue")
        return 0
    if args.dlq_command == "show":
        for letter in queue.peek():
            if letter.message_id == args.message_id:
                print(
                    json.dumps(
                        {**letter.summary(), "receive_count": letter.receive_count, "body": json.loads(letter.body)},
                        indent=2,
                    )
                )
                return 0
        print(f"no message {args.message_id} in the dead-letter queue", file=sys.stderr)
        return 1
    replayed = queue.replay(None if args.all else args.message_ids)
    not_found = [] if args.all else sorted(set(args.message_ids) - set(replayed))
    if args.json:
        print(json.dumps({"replayed": replayed, "not_found": not_found}, indent=2))
    else:
        print(f"replayed {len(replayed)} message(s): {' '.join(replayed)}")
        if not_found:
            print(f"not found: {' '.join(not_found)}", file=sys.stderr)
    return 1 if not_found else 0


def _table(deployment: Deployment) -> Any:
    import boto3

    return boto3.resource("dynamodb", endpoint_url=deployment.endpoint_url).Table(deployment.table_name)


def cmd_history(args: argparse.Namespace) -> int:
    from alert_courier.aws.history_index import HistoryLookups
    from alert_courier.domain.heartbeat_decisions import HEARTBEAT_SOURCE
    from alert_courier.operator_tools.history_lookup import find_decisions, format_found, public
    from alert_courier.sources import SOURCES

    deployment = find_deployment(args)
    sources = [args.source] if args.source else [*SOURCES, HEARTBEAT_SOURCE]
    found = find_decisions(HistoryLookups(_table(deployment)), args.key, sources)
    if args.since:
        found = found.since(_since(args.since))
    if args.json:
        print(json.dumps([public(entry) for entry in found.entries], indent=2, default=str))
        return 0 if found.entries else 1
    if not found.entries:
        print(f"no decisions recorded for {args.key}", file=sys.stderr)
        return 1
    print("\n".join(format_found(found)))
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    from datetime import datetime

    from alert_courier.aws.history_index import HistoryLookups
    from alert_courier.operator_tools.tail import Follower, follow, print_followed

    if (args.count is not None and args.count < 1) or args.interval <= 0:
        raise CliError("--count takes a number of decisions (1 or more), --interval a number of seconds above 0")
    since = datetime.fromisoformat(_since(args.since))
    follower = Follower(HistoryLookups(_table(find_deployment(args))), since)
    entries = follow(follower, once=args.once, count=args.count, interval=args.interval)
    try:
        return print_followed(entries, as_json=args.json, write=lambda line: print(line, flush=True))
    except KeyboardInterrupt:  # Ctrl-C is how one stops following: not an error
        return 0


def cmd_silence(args: argparse.Namespace) -> int:
    import boto3

    from alert_courier.aws.maintenance_store import MaintenanceStore
    from alert_courier.operator_tools import silence

    deployment = find_deployment(args)
    table = boto3.resource("dynamodb", endpoint_url=deployment.endpoint_url).Table(deployment.table_name)
    return silence.run(args, MaintenanceStore(table))


def _since(text: str) -> str:
    """`--since`: an ISO 8601 time, or a duration back from now (`90m`, `2h`, `1d`), as a sortable UTC time."""
    from datetime import UTC, datetime

    from alert_courier.domain.rules import parse_duration

    try:
        return (datetime.now(UTC) - parse_duration(text)).isoformat()
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"--since {text!r}: give an ISO 8601 time or a duration such as 90m, 2h, 1d") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def _deployed_rules(args: argparse.Namespace, deployment: Deployment) -> Any:
    """`--rules`, else the shipped rules with the deployment's SSM override (if it has one) applied."""
    rules = _load_rules_or_exit(args.rules)
    if args.rules or not deployment.rules_parameter:
        return rules
    from alert_courier.domain.rules import RulesError
    from alert_courier.domain.rules_override import override_rules

    name = deployment.rules_parameter
    text = _client("ssm", deployment).get_parameter(Name=name)["Parameter"]["Value"]
    try:
        return override_rules(rules, text, f"ssm:{name}")
    except RulesError as error:
        why = (str(error).strip().splitlines() or [""])[0]
        warning = f"the rules override {name} is invalid; judging by the shipped rules: {why}"
        print(f"alert-courier: {warning}", file=sys.stderr)
        return rules


def cmd_status(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    import boto3

    from alert_courier.aws.dynamodb_stores import scan_live_state
    from alert_courier.aws.maintenance_store import MaintenanceStore
    from alert_courier.operator_tools.status import build_status, dlq_depth, format_status

    deployment = find_deployment(args)
    rules = _deployed_rules(args, deployment)
    table = boto3.resource("dynamodb", endpoint_url=deployment.endpoint_url).Table(deployment.table_name)
    live = scan_live_state(table)
    dlq = dlq_depth(_client("sqs", deployment), deployment.dlq_url)
    store = MaintenanceStore(table)
    windows = [(window, store.held_count(window.id)) for window in store.windows()]
    document = build_status(live, rules, dlq, datetime.now(UTC), windows)
    print(json.dumps(document, indent=2) if args.json else format_status(document))
    return 0


def cmd_manual(args: argparse.Namespace) -> int:
    from alert_courier.operator_tools.manual import incident_io_access, run_manual
    from alert_courier.sources import SOURCES

    deployment = find_deployment(args)
    return run_manual(
        args.command,
        args,
        table=_table(deployment),
        rules=_deployed_rules(args, deployment),
        access=lambda: incident_io_access(args, lambda service: _client(service, deployment), local_endpoints),
        sources=[args.source] if args.source else list(SOURCES),
    )


def cmd_reconcile(args: argparse.Namespace) -> int:
    from alert_courier.operator_tools.manual import incident_io_access
    from alert_courier.operator_tools.reconcile import print_report, reconciler_for

    if not (args.local or args.stack):
        raise CliError("reconcile reads and changes a deployment: say which, with --local or --stack NAME")
    deployment = find_deployment(args)
    parameters: dict[str, str] = {}
    if args.stack:
        stack = _client("cloudformation", deployment).describe_stacks(StackName=args.stack)["Stacks"][0]
        parameters = {item["ParameterKey"]: item.get("ParameterValue", "") for item in stack.get("Parameters", [])}
    reconciler = reconciler_for(
        table=_table(deployment),
        rules=_deployed_rules(args, deployment),
        access=incident_io_access(args, lambda service: _client(service, deployment), local_endpoints),
        client=lambda service: _client(service, deployment),
        endpoint_url=deployment.endpoint_url,
        role_arns=parameters.get("ReconcileRoleArns", ""),
        secret_prefix=parameters.get("ReconcileSecretPrefix") or "alert-courier/reconcile/",
        queue_url=deployment.queue_url,
    )
    report = reconciler.plan() if args.dry_run else reconciler.run()
    return print_report(report, dry_run=args.dry_run, as_json=args.json)


class _StaticSecret:
    """A secrets provider holding one value (a key from the environment, for check-config)."""

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self, _name: str, **_options: Any) -> str:
        return self._value


def _load_rules_or_exit(path: str | None) -> Any:
    from alert_courier.domain.rules import RulesError, load_rules

    try:
        return load_rules(path)
    except RulesError as error:
        raise CliError(str(error)) from None
    except OSError as error:
        raise CliError(f"cannot read the rules file {path}: {error.strerror or error}") from None


def cmd_explain(args: argparse.Namespace) -> int:
    from alert_courier.incident_io.organisation import Organisation
    from alert_courier.operator_tools.explain import ExplainError, alerts_from_document, explain, format_report

    rules = _load_rules_or_exit(args.rules)
    alerts = []
    for name in args.files:  # read in order: the decisions carry the group's state from one to the next
        try:
            document = json.loads(Path(name).read_text(encoding="utf-8"))
            alerts += alerts_from_document(args.source, document)
        except (OSError, json.JSONDecodeError, ExplainError) as error:
            print(f"cannot read {name}: {error}", file=sys.stderr)
            return 1
    organisation = None
    if args.org:
        try:
            document = json.loads(Path(args.org).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise CliError(f"cannot read the organisation document {args.org}: {error}") from None
        organisation = Organisation.from_resource(document)
    live_state = live_sources = storm_reads = None
    windows = None
    if args.state:
        from alert_courier.aws.dynamodb_stores import GroupStateStore
        from alert_courier.aws.inhibition_store import InhibitionStore
        from alert_courier.aws.maintenance_store import MaintenanceStore
        from alert_courier.aws.storm_store import StormStore

        if not (args.local or args.stack):
            raise CliError("--state reads the live state of the group: say where, with --local or --stack NAME")
        deployment = find_deployment(args)
        rules = _deployed_rules(args, deployment)
        table = _table(deployment)
        live_state = GroupStateStore(table).load
        # every quiet control as dispatch would judge it now: its windows, inhibiting sources and storms
        windows = None if args.maintenance else MaintenanceStore(table).windows()
        live_sources = InhibitionStore(table).firing_sources
        storm_reads = StormStore(table)
    if args.maintenance:
        from alert_courier.operator_tools.explain import windows_from_document

        try:
            windows = windows_from_document(json.loads(Path(args.maintenance).read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError, ExplainError) as error:
            raise CliError(f"cannot read the maintenance windows {args.maintenance}: {error}") from None
    at = None
    if args.at:
        from datetime import UTC, datetime

        try:
            at = datetime.fromisoformat(args.at)
        except ValueError:
            raise CliError(f"--at {args.at!r}: give an ISO 8601 time, e.g. 2026-12-02T10:00:00Z") from None
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    report = explain(
        alerts,
        rules,
        organisation=organisation,
        live_state=live_state,
        windows=windows,
        now=at,
        live_sources=live_sources,
        storm_reads=storm_reads,
    )
    print(json.dumps(report, indent=2, default=str) if args.json else format_report(report))
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from alert_courier.operator_tools.rule_tests import run_test_command

    return run_test_command(args.tests_file, args.rules, as_json=args.json)


def cmd_reset(args: argparse.Namespace) -> int:
    from alert_courier.operator_tools.local_reset import format_reset, reset_local_stack

    find_local_deployment()  # refuses unless an alert-courier local stack answers at the LOCAL_* endpoints
    answer = reset_local_stack(local_endpoints())
    print(json.dumps(answer, indent=2) if args.json else format_reset(answer))
    return 0


def _mcp_server(url: str, key: str) -> Any:
    from alert_courier.aws.api_key import ApiKeySource
    from alert_courier.incident_io.mcp_client import IncidentIoMcp
    from alert_courier.incident_io.retry_policy import RetryPolicy

    return IncidentIoMcp(
        url,
        ApiKeySource("cli", provider=_StaticSecret(key)),
        call_timeout_seconds=10,
        policy=RetryPolicy(max_attempts=2, budget_seconds=10),
    )


def cmd_check_config(args: argparse.Namespace) -> int:
    from alert_courier.domain.heartbeat_decisions import HEARTBEAT_SOURCE
    from alert_courier.domain.rules import BUNDLED_RULES
    from alert_courier.operator_tools.config_check import CheckReport, check_against_server
    from alert_courier.operator_tools.rules_lint import lint
    from alert_courier.sources import SOURCES

    rules = _load_rules_or_exit(args.rules)
    report = CheckReport()
    report.ok(f"{args.rules or 'bundled rules'}: {len(rules.rules)} rules parse")
    text = Path(args.rules or BUNDLED_RULES).read_text(encoding="utf-8")
    for finding in lint(rules, text, frozenset([*SOURCES, HEARTBEAT_SOURCE])):
        if finding.level == "error" or args.strict:
            report.fail(finding.text)
        else:
            report.warn(finding.text)
    for heartbeat in rules.heartbeats:
        report.ok(f"heartbeat {heartbeat.name!r} ({heartbeat.kind}) is watched")
    if args.mcp_url:
        key = os.environ.get(args.api_key_env, "")
        if not key:
            report.fail(f"set {args.api_key_env} to the incident.io API key to check against {args.mcp_url}")
        else:
            check_against_server(rules, _mcp_server(args.mcp_url, key), report)
    return _print_report(report, as_json=args.json)


def cmd_doctor(args: argparse.Namespace) -> int:
    """The fit of a workspace (live, or a recorded contract), optionally recorded (--record) or smoke-tested."""
    from alert_courier.operator_tools import doctor
    from alert_courier.operator_tools.doctor_fit import DoctorReport

    report = DoctorReport()
    rules = _load_rules_or_exit(args.rules)
    if args.contract:
        from alert_courier.incident_io.contract import ContractError, read_contract

        if args.record or args.smoke:
            raise CliError("--contract checks a recording offline: --record and --smoke need a live server")
        try:
            contract = read_contract(args.contract)
        except ContractError as error:
            raise CliError(str(error)) from None
        report.add("ok", f"contract {args.contract} (recorded {contract.recorded_at or 'at an unknown time'})")
        doctor.check_workspace(rules, doctor.workspace_of_contract(contract), report)
        return _print_doctor(report, None, as_json=args.json)
    if args.page and not args.smoke:
        raise CliError("--page PATH_ID goes with --smoke")
    if args.smoke and not (args.local or args.stack):
        raise CliError("--smoke opens a real (test) incident: say where, with --local or --stack NAME")
    key, mcp_url = _doctor_key_and_url(args, report)
    smoke = None
    if key:
        server = _mcp_server(mcp_url, key)
        try:
            smoke = _doctor_live(args, rules, server, report, mcp_url=mcp_url, key=key)
        finally:
            server.close()
    return _print_doctor(report, smoke, as_json=args.json)


def _doctor_live(args: argparse.Namespace, rules: Any, server: Any, report: Any, *, mcp_url: str, key: str) -> Any:
    """The fit of the live server, then --record and --smoke; returns the smoke run (None without --smoke)."""
    from alert_courier.operator_tools import doctor

    workspace = doctor.read_workspace(server, report)
    if workspace is None:
        return None
    doctor.check_workspace(rules, workspace, report)
    if args.record:
        from alert_courier.incident_io.contract import ContractError
        from alert_courier.incident_io.tool_errors import ToolCallError

        try:
            contract = doctor.record_contract(server, workspace.organisation, args.record, url=mcp_url, key=key)
        except (ToolCallError, ContractError) as error:
            why = error.describe() if isinstance(error, ToolCallError) else str(error)
            report.add("error", f"could not record the contract to {args.record}: {why}")
        else:
            report.add(
                "ok",
                f"recorded {len(contract.tools)} tools, {len(contract.resources)} resources and the organisation "
                f"document to {args.record}",
            )
    if not args.smoke:
        return None
    from alert_courier.operator_tools.doctor_smoke import run_smoke

    return run_smoke(server, page_path_id=args.page)


def _doctor_key_and_url(args: argparse.Namespace, report: Any) -> tuple[str, str]:
    """The API key (the deployment's secret, or --api-key-env) and the MCP server's URL."""
    key = ""
    if args.api_key_env and not (args.local or args.stack):
        key = os.environ.get(args.api_key_env, "")
        if not key:
            report.add("error", f"set {args.api_key_env} to the incident.io API key")
    else:
        deployment = find_deployment(args)
        try:
            secret = _client("secretsmanager", deployment).get_secret_value(SecretId=args.secret_name)
            from alert_courier.aws.api_key import ApiKeySource

            key = (
                ApiKeySource(args.secret_name, provider=_StaticSecret(secret.get("SecretString", "")))
                .get()
                .get_secret_value()
            )
            report.add("ok", f"secret {args.secret_name} is readable" + ("" if key else " but empty"))
            if not key:
                report.add("error", f"secret {args.secret_name} holds no API key")
        except Exception as error:  # any AWS failure is a finding, not a crash
            report.add("error", f"secret {args.secret_name} unreadable: {type(error).__name__}")
    if args.mcp_url:
        return key, str(args.mcp_url)
    if args.local:
        from alert_courier.operator_tools.local_stack_probe import ensure_local_simulator

        return key, ensure_local_simulator(local_endpoints())
    return key, "https://mcp.incident.io/mcp"


def _print_doctor(report: Any, smoke: Any, *, as_json: bool) -> int:
    from alert_courier.operator_tools.doctor_smoke import format_steps, steps_as_json

    failed = bool(report.failures) or (smoke is not None and not smoke.ok)
    if as_json:
        document = report.as_json() | ({"smoke": steps_as_json(smoke)} if smoke is not None else {})
        print(json.dumps(document | {"ok": not failed}, indent=2))
    else:
        print("\n".join(report.lines()))
        if smoke is not None:
            print("\n" + format_steps(smoke))
    return 1 if failed else 0


def _print_report(report: Any, *, as_json: bool) -> int:
    """A check report as its lines, or (`--json`) as {"ok", "failures", "checks": [{"ok", "text"}]}."""
    if as_json:
        checks = [{"ok": not line.startswith("FAIL"), "text": line.split(None, 1)[-1]} for line in report.lines]
        print(json.dumps({"ok": not report.failures, "failures": report.failures, "checks": checks}, indent=2))
    else:
        print("\n".join(report.lines))
    return 1 if report.failures else 0


def package_version() -> str:
    """The installed distribution's version, else (a checkout, the Lambda layer) pyproject.toml's, else unknown."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("alert-courier")
    except PackageNotFoundError:
        pass
    try:
        pyproject = Path(__file__).resolve().parents[4] / "pyproject.toml"
        return str(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"])
    except (IndexError, OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alert-courier", description=__doc__)
    parser.add_argument("--version", action="version", version=f"alert-courier {package_version()}")
    where = argparse.ArgumentParser(add_help=False)
    group = where.add_mutually_exclusive_group()
    group.add_argument("--stack", help="CloudFormation stack name of the deployment (reads its outputs)")
    group.add_argument(
        "--local", action="store_true", help="the local stack started by `make run` (follows its LOCAL_* variables)"
    )
    where.add_argument("--json", action="store_true", help="machine-readable output")
    commands = parser.add_subparsers(dest="command", required=True)

    dlq = commands.add_parser("dlq", help="read and replay the dead-letter queue")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_commands.add_parser("list", parents=[where], help="every dead letter with its failure reason")
    show = dlq_commands.add_parser("show", parents=[where], help="one dead letter in full")
    show.add_argument("message_id")
    replay = dlq_commands.add_parser("replay", parents=[where], help="send dead letters back through dispatch")
    replay.add_argument("message_ids", nargs="*")
    replay.add_argument("--all", action="store_true")
    dlq.set_defaults(handler=cmd_dlq)

    history = commands.add_parser(
        "history",
        parents=[where],
        help="every decision taken for an alert, a group, a heartbeat or an incident",
        description=(
            "KEY is looked up every way: an alert's dedup key, a group key, a heartbeat's name (every instance's "
            "decisions; `name/instance` for one), an incident's reference (INC-12) or id, or the key an incident's "
            "summary prints (`alert-courier key: alert-courier-…`: that episode's decisions)."
        ),
    )
    history.add_argument("key", metavar="KEY")
    history.add_argument("--source", help="the monitoring source (default: look in every source)")
    history.add_argument("--since", help="only decisions recorded since: an ISO 8601 time or a duration (2h, 1d)")
    history.set_defaults(handler=cmd_history)

    tail = commands.add_parser(
        "tail",
        parents=[where],
        help="decisions as they are recorded, one line each, following new ones (Ctrl-C stops)",
        description=(
            "One line per decision: time, source, group key (and the alert's dedup key), status, what was decided "
            "(opened, joined, suppressed, repeat, stale, resolved, paged, acknowledged, failed, manual …), the "
            "actions, the incident. Starts with what was recorded since --since (default 10m), then follows."
        ),
    )
    tail.add_argument("--since", default="10m", help="start from: an ISO 8601 time or a duration (default 10m)")
    tail.add_argument("--once", action="store_true", help="print what is recorded and stop (do not follow)")
    tail.add_argument("--count", type=int, metavar="N", help="stop after N decisions")
    tail.add_argument("--interval", type=float, default=2.0, help="seconds between reads while following")
    tail.set_defaults(handler=cmd_tail)

    from alert_courier.operator_tools.manual import WHAT_IT_DOES

    for operation, effect in WHAT_IT_DOES.items():
        manual = commands.add_parser(
            operation,
            parents=[where],
            help=f"{effect} (asks first; recorded in history)",
            description=(
                f"{operation} GROUP: {effect}. GROUP is a group key (as `status` prints it) or the incident it opened "
                "(INC-12, its id, or the key its summary prints). Asks for confirmation at a terminal; --yes is "
                "required without one. Recorded in the group's history as a manual operation, with who and why. "
                "Running it twice does it once."
            ),
        )
        manual.add_argument("group", metavar="GROUP")
        manual.add_argument("--yes", action="store_true", help="do not ask (scripts; required without a terminal)")
        manual.add_argument("--reason", help="why, for the history")
        manual.add_argument("--by", help="who, for the history (default: $USER)")
        manual.add_argument("--source", help="the monitoring source, when the group key exists in several")
        manual.add_argument("--rules", help="rules file (default: the shipped rules and the stack's override)")
        manual.set_defaults(handler=cmd_manual)

    from alert_courier.operator_tools import silence

    silence.add_parser(commands, where)
    commands.choices["silence"].set_defaults(handler=cmd_silence)

    reconcile = commands.add_parser(
        "reconcile",
        parents=[where],
        help="the scheduler's reconcile pass now (--dry-run: what it would change, nothing changed)",
        description=(
            "Compares the groups held open with CloudWatch (DescribeAlarms), the rules' Alertmanager/Grafana APIs, "
            "the rules' stale_after and incident.io's incident statuses, and makes each change through dispatch's "
            'own decision and ledger (README "Reconciliation"). --dry-run reads the same and decides the same, '
            "acting on nothing: its lines are what a real pass then does."
        ),
    )
    reconcile.add_argument("--dry-run", action="store_true", help="print what would change; change nothing")
    reconcile.add_argument("--rules", help="rules file (default: the shipped rules and the stack's override)")
    reconcile.set_defaults(handler=cmd_reconcile)

    status = commands.add_parser(
        "status",
        parents=[where],
        help="the live picture: open groups, pending escalations, heartbeats, DLQ depth (scans the state table)",
        description=(
            "Open alert groups (source, group key, incident, severity, age, alerts firing), their pending escalation "
            "levels and when they are due, every heartbeat instance's last ping and next deadline (judged by the "
            "rules, as the scheduler does), and the dead-letter queue's approximate depth. It scans the whole state "
            "table (read units in proportion to its size): an operator's command, not one to poll."
        ),
    )
    status.add_argument(
        "--rules", help="rules file for the heartbeat deadlines (default: the shipped rules and the stack's override)"
    )
    status.set_defaults(handler=cmd_status)

    explain = commands.add_parser("explain", help="dry-run a payload: normalised alerts, matched rules, tool calls")
    explain.add_argument(
        "files",
        nargs="+",
        metavar="file",
        help="webhook bodies (or API Gateway HTTP API events carrying them), replayed in order with state",
    )
    explain.add_argument("--source", required=True)
    explain.add_argument("--rules", help="rules file (default: the bundled one)")
    explain.add_argument("--org", help="a saved config://organisation document, to show real IDs")
    explain.add_argument(
        "--maintenance", help="maintenance windows (GET /maintenance or `silence list --json`): which hold what"
    )
    explain.add_argument("--at", help="decide as at this ISO 8601 time (default: now; windows are judged then)")
    explain.add_argument("--json", action="store_true")
    explain.add_argument(
        "--state", action="store_true", help="start from the group's live state (with --local or --stack)"
    )
    live = explain.add_mutually_exclusive_group()
    live.add_argument("--stack", help="with --state: the CloudFormation stack whose state to read")
    live.add_argument("--local", action="store_true", help="with --state: the local stack started by `make run`")
    explain.set_defaults(handler=cmd_explain)

    rule_tests = commands.add_parser(
        "test",
        help="rule tests: payloads (or sequences) against expected rules, tool calls and end state",
        description=(
            "Replays each test case's payloads through the dispatch function's own decision (as explain does) and "
            "compares the rules matched, the tool calls and the end state with what the case expects. "
            "Exit 0: every case passes; 1: a case fails (each failure printed); 2: the test file is not valid."
        ),
    )
    rule_tests.add_argument("tests_file", metavar="TESTS.yaml")
    rule_tests.add_argument("--rules", help="rules file (default: the test file's `rules:`, else the bundled one)")
    rule_tests.add_argument("--json", action="store_true", help="machine-readable output")
    rule_tests.set_defaults(handler=cmd_test)

    reset = commands.add_parser(
        "reset",
        help="the local stack only: clear alert-courier's state (tables, queue, DLQ, history) and the simulator",
        description=(
            "A fresh start for the stack `make run` started, without restarting it: every item of its state table "
            "(groups, claims, history, timers, heartbeats) and every message of its queue and DLQ is deleted, and "
            "the simulator is reset (as POST /_sim/reset). Re-posting a sample then opens a new incident."
        ),
    )
    reset.add_argument(
        "--local", action="store_true", required=True, help="the local stack (follows its LOCAL_* variables)"
    )
    reset.add_argument("--json", action="store_true", help="machine-readable output")
    reset.set_defaults(handler=cmd_reset)

    check = commands.add_parser("check-config", help="validate a rules file (and its calls against a server)")
    check.add_argument("rules", nargs="?", help="rules file (default: the bundled one)")
    check.add_argument("--mcp-url", help="also list the server's tools and check every planned call")
    check.add_argument("--api-key-env", default="INCIDENT_IO_API_KEY", help="variable holding the API key")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.add_argument("--strict", action="store_true", help="warnings fail the check too")
    check.set_defaults(handler=cmd_check_config)

    doctor = commands.add_parser(
        "doctor",
        parents=[where],
        help="prove the fit with a workspace's incident.io MCP server (tools, arguments, organisation, key)",
        description=(
            "Checks every tool the rules and the recovery paths use against the server's advertised input schemas "
            "(errors: a missing required argument, a guarantee the schema filter would drop; warnings: permissive "
            "schemas), the organisation document, the page fallback and the key's roles. --record FILE saves the "
            "server's contract; --smoke runs one real round trip with a test incident."
        ),
    )
    doctor.add_argument("--secret-name", default="alert-courier/incident-io-api-key")
    doctor.add_argument("--mcp-url", help="default: the local simulator with --local, else mcp.incident.io")
    doctor.add_argument("--rules", help="rules file (default: the bundled one)")
    doctor.add_argument(
        "--api-key-env", metavar="VAR", help="without --stack/--local: read the API key from this variable"
    )
    doctor.add_argument("--record", metavar="FILE", help="write the server's contract (.json, or .yaml) to FILE")
    doctor.add_argument("--contract", metavar="FILE", help="check a recorded contract offline instead of a server")
    doctor.add_argument(
        "--smoke", action="store_true", help="open, update and close a mode: test incident, reading every answer"
    )
    doctor.add_argument("--page", metavar="PATH_ID", help="with --smoke: also page this (test) escalation path")
    doctor.set_defaults(handler=cmd_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "dlq_command", None) == "replay" and not args.all and not args.message_ids:
        raise SystemExit("name the message ids to replay, or --all")
    try:
        code = int(args.handler(args))
        sys.stdout.flush()  # here, so that a closed pipe (`| head`) is caught below, not at exit
        return code
    except Exception as error:
        message = one_line_message(error)
        if message is None:
            raise
        if isinstance(error, BrokenPipeError):
            _discard_stdout()
        print(f"alert-courier: {message}", file=sys.stderr)
        return 1


def _discard_stdout() -> None:
    """Points stdout at /dev/null, so the interpreter's own flush at exit does not fail on the closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file (under test capture): nothing will flush it
        pass


if __name__ == "__main__":
    sys.exit(main())
