"""Reads template.yaml the way the local stack needs it: functions, their handlers, env and HTTP routes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """Accepts CloudFormation short-form tags (!Ref, !Sub, !GetAtt …) as plain {"Fn": value} mappings."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


@dataclass(frozen=True)
class HttpRoute:
    method: str
    path: str  # API Gateway syntax, e.g. /webhooks/{source}


@dataclass(frozen=True)
class LambdaFunction:
    logical_id: str
    code_dir: Path
    module: str
    handler: str
    timeout_seconds: int
    environment: dict[str, Any] = field(default_factory=dict)
    http_routes: list[HttpRoute] = field(default_factory=list)
    sqs_queue_refs: list[str] = field(default_factory=list)
    schedule_events: list[dict[str, Any]] = field(default_factory=list)
    sns_topics: dict[str, str] = field(default_factory=dict)  # event name → the SNS topic's logical id
    eventbridge_rules: dict[str, dict[str, Any]] = field(default_factory=dict)  # event name → its rule's Pattern


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    document: dict[str, Any] = yaml.load(path.read_text(), Loader=_CfnLoader)
    return document


def parameter_defaults(template: dict[str, Any]) -> dict[str, Any]:
    return {name: spec.get("Default") for name, spec in (template.get("Parameters") or {}).items()}


def functions(template: dict[str, Any]) -> list[LambdaFunction]:
    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    global_env = ((globals_fn.get("Environment") or {}).get("Variables")) or {}
    found = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties") or {}
        module, _, handler = str(props["Handler"]).rpartition(".")
        env = {**global_env, **(((props.get("Environment") or {}).get("Variables")) or {})}
        routes, queues, schedules = [], [], []
        topics: dict[str, str] = {}
        rules: dict[str, dict[str, Any]] = {}
        for event_name, event in (props.get("Events") or {}).items():
            event_props = event.get("Properties") or {}
            if event.get("Type") == "HttpApi":
                routes.append(HttpRoute(str(event_props["Method"]).upper(), str(event_props["Path"])))
            elif event.get("Type") == "SQS":
                queue = event_props.get("Queue")
                if isinstance(queue, dict) and "Fn::GetAtt" in queue:
                    queues.append(queue["Fn::GetAtt"][0])
            elif event.get("Type") in ("ScheduleV2", "Schedule"):
                schedules.append(event_props)
            elif event.get("Type") == "SNS" and isinstance(event_props.get("Topic"), dict):
                topics[str(event_name)] = str(event_props["Topic"].get("Ref"))
            elif event.get("Type") in ("EventBridgeRule", "CloudWatchEvent"):
                rules[str(event_name)] = dict(event_props.get("Pattern") or {})
        found.append(
            LambdaFunction(
                logical_id=logical_id,
                code_dir=REPO_ROOT / str(props["CodeUri"]),
                module=module,
                handler=handler,
                timeout_seconds=int(props.get("Timeout") or globals_fn.get("Timeout") or 3),
                environment=env,
                http_routes=routes,
                sqs_queue_refs=queues,
                schedule_events=schedules,
                sns_topics=topics,
                eventbridge_rules=rules,
            )
        )
    return found


def resolve(value: Any, refs: dict[str, str]) -> str:
    """Resolves !Ref / !Sub / !GetAtt against local values; unknown references stay visible in the result."""
    if isinstance(value, dict):
        if "Ref" in value:
            return refs.get(value["Ref"], f"<unresolved {value['Ref']}>")
        if "Fn::GetAtt" in value:
            return refs.get(".".join(value["Fn::GetAtt"]), f"<unresolved {value['Fn::GetAtt']}>")
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            for name, replacement in refs.items():
                text = text.replace("${" + name + "}", replacement)
            return str(text)
    return "" if value is None else str(value)
