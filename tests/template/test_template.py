"""Checks on template.yaml that fail when the SAM template breaks.

Layers of checking (see docs platform-detail §3.2 for why raw cfn-lint alone is not enough):
  1. raw ``cfn-lint template.yaml``;
  2. offline SAM translation with ``samtranslator`` (no AWS calls), then cfn-lint on the result:
     this is what catches bad runtimes and undefined ``!Ref``s inside SAM resources;
  3. (slow) ``sam validate --lint`` with the SAM CLI from ``.venv-sam`` (not needed by `make unit`);
  4. structural assertions on the translated (plain CloudFormation) template;
  5. (slow) a real ``sam build`` into a temporary directory, inspecting the artefacts.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import math
import os
import re
import subprocess
import sys
import tomllib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"
SAMCONFIG = REPO_ROOT / "samconfig.toml"
SAM_BIN = REPO_ROOT / ".venv-sam" / "bin" / "sam"
REGION = "us-east-1"

# Values used to evaluate IAM resource patterns against concrete secret ARNs.
FAKE_ACCOUNT = "123456789012"
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": FAKE_ACCOUNT}

# The environment contract between the template and the function code.
GLOBAL_ENV = {
    "POWERTOOLS_SERVICE_NAME": "alert-courier",
    "POWERTOOLS_METRICS_NAMESPACE": "AlertCourier",
    "POWERTOOLS_LOG_LEVEL": {"Ref": "LogLevel"},
    "POWERTOOLS_PARAMETERS_MAX_AGE": "300",
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
    "STATE_TABLE_NAME": {"Ref": "StateTable"},
}
FUNCTION_ENV = {
    "IngestFunction": {
        "ALERT_QUEUE_URL": {"Ref": "AlertQueue"},
        "WEBHOOK_SECRET_PREFIX": {"Ref": "WebhookSecretPrefix"},
        "MAX_BODY_BYTES": "6291456",
        "CLOUDWATCH_TOPIC_ARNS": {"Ref": "CloudWatchTopicArns"},
        "RULES_PARAMETER": {"Ref": "RulesParameter"},
    },
    "DispatchFunction": {
        "INCIDENT_IO_API_KEY_SECRET": {"Ref": "IncidentIoApiKeySecretName"},
        "MCP_SERVER_URL": {"Ref": "McpServerUrl"},
        "ALERT_SOURCE_SECRET_PREFIX": {"Ref": "AlertSourceSecretPrefix"},
        "CALL_BUDGET_PER_MINUTE": {"Ref": "IncidentIoRequestsPerMinute"},
        "PAGE_BUDGET_PER_MINUTE": {"Ref": "IncidentIoPagesPerMinute"},
        "DEAD_LETTER_QUEUE_URL": {"Ref": "AlertDeadLetterQueue"},
        "RULES_PARAMETER": {"Ref": "RulesParameter"},
    },
    "SchedulerFunction": {
        "INCIDENT_IO_API_KEY_SECRET": {"Ref": "IncidentIoApiKeySecretName"},
        "MCP_SERVER_URL": {"Ref": "McpServerUrl"},
        "ALERT_SOURCE_SECRET_PREFIX": {"Ref": "AlertSourceSecretPrefix"},
        "CALL_BUDGET_PER_MINUTE": {"Ref": "IncidentIoRequestsPerMinute"},
        "PAGE_BUDGET_PER_MINUTE": {"Ref": "IncidentIoPagesPerMinute"},
        "RULES_PARAMETER": {"Ref": "RulesParameter"},
        "DEAD_LETTER_QUEUE_URL": {"Ref": "AlertDeadLetterQueue"},
        "RECONCILE_EVERY_MINUTES": {"Ref": "ReconcileMinutes"},
        "RECONCILE_ROLE_ARNS": {"Ref": "ReconcileRoleArns"},
        "RECONCILE_SECRET_PREFIX": {"Ref": "ReconcileSecretPrefix"},
        "ALERT_QUEUE_URL": {"Ref": "AlertQueue"},
    },
}

# Managed policies SAM attaches on its own (logs, X-Ray, SQS poller). None of them touches secrets.
ALLOWED_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
}


# --------------------------------------------------------------------------- helpers


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", **kwargs.pop("env", {})}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, **kwargs)


def _cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    # Run cfn-lint's CLI entry point with this interpreter, so the venv's cfn-lint is the one used.
    code = "import sys; from cfnlint.runner import main; sys.exit(main())"
    return _run([sys.executable, "-c", code, str(path)], cwd=REPO_ROOT)


def _load_sam_template(path: Path) -> dict[str, Any]:
    from cfnlint.decode import cfn_yaml  # understands !Ref, !Sub, !GetAtt ...

    # JSON round trip: plain dicts/strs instead of cfn-lint's node subclasses.
    return json.loads(json.dumps(cfn_yaml.load(str(path))))


def _with_placeholder_uris(template: dict[str, Any]) -> dict[str, Any]:
    """Point local code/content paths at S3 so the translator needs no packaging step."""
    template = copy.deepcopy(template)
    holders = [r.get("Properties", {}) for r in template.get("Resources", {}).values()]
    holders += list(template.get("Globals", {}).values())
    for props in holders:
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            value = props.get(key)
            if isinstance(value, str) and not value.startswith("s3://"):
                props[key] = f"s3://placeholder/{value.strip('/') or 'root'}.zip"
    return template


def translate(template: dict[str, Any]) -> dict[str, Any]:
    """SAM -> CloudFormation, fully offline (no IAM ListPolicies, no credentials)."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    def managed_policy_map() -> dict[str, str]:
        # Stub of ManagedPolicyLoader.load(): only the AWS managed policies SAM itself attaches.
        return {arn.rsplit("/", 1)[1]: arn for arn in ALLOWED_MANAGED_POLICIES}

    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    return translator.translate(
        _with_placeholder_uris(template), parameter_values={}, get_managed_policy_map=managed_policy_map
    )


def resources_of_type(cfn: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in cfn["Resources"].items() if v["Type"] == rtype}


def _substitute(fmt: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{([^}!]+)\}", lambda m: variables.get(m.group(1), m.group(0)), fmt)


def resolve(value: Any, params: dict[str, str]) -> str:
    """Resolve the string intrinsics IAM resources use here (Sub, Ref) with concrete values."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return params[value["Ref"]]
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        sub = value["Fn::Sub"]
        if isinstance(sub, str):
            return _substitute(sub, params)
        fmt, local_vars = sub
        return _substitute(fmt, {**params, **{k: resolve(v, params) for k, v in local_vars.items()}})
    raise AssertionError(f"cannot resolve IAM resource {value!r}")


def parameter_defaults(cfn: dict[str, Any]) -> dict[str, str]:
    defaults = {name: str(p["Default"]) for name, p in cfn["Parameters"].items() if "Default" in p}
    return {**defaults, **PSEUDO}


def role_policies(role: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every inline policy; a conditional one (`Fn::If` [condition, policy, AWS::NoValue]) as if granted."""
    for policy in role["Properties"].get("Policies", []):
        if "Fn::If" in policy:
            _, granted, otherwise = policy["Fn::If"]
            assert otherwise == {"Ref": "AWS::NoValue"}, policy
            policy = granted
        yield policy


def role_statements(role: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for policy in role_policies(role):
        statements = policy["PolicyDocument"]["Statement"]
        yield from statements if isinstance(statements, list) else [statements]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def secret_statements(role: dict[str, Any], effect: str = "Allow") -> list[dict[str, Any]]:
    out = []
    for st in role_statements(role):
        actions = [a.lower() for a in _as_list(st.get("Action", []))]
        if st["Effect"] == effect and any(a.startswith("secretsmanager:") or a == "*" for a in actions):
            out.append(st)
    return out


def allowed_secret_patterns(role: dict[str, Any], params: dict[str, str]) -> set[str]:
    return {resolve(r, params) for st in secret_statements(role) for r in _as_list(st["Resource"])}


def can_read(patterns: set[str], arn: str) -> bool:
    return any(fnmatch.fnmatchcase(arn, pattern) for pattern in patterns)


def secret_arn(name: str) -> str:
    # Secrets Manager appends "-" and 6 random characters to every secret's ARN.
    return f"arn:aws:secretsmanager:{REGION}:{FAKE_ACCOUNT}:secret:{name}-AbC123"


def function_role(cfn: dict[str, Any], function_id: str) -> dict[str, Any]:
    role_ref = cfn["Resources"][function_id]["Properties"]["Role"]
    assert role_ref == {"Fn::GetAtt": [f"{function_id}Role", "Arn"]}, role_ref
    return cfn["Resources"][f"{function_id}Role"]


# Things that look like credentials. The generic rule flags long mixed-case alphanumeric runs with high
# entropy (API keys, tokens) while leaving ARNs, logical ids, URLs and policy names alone.
_KEY_SHAPES = [
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{8,}"),
    re.compile(r"\b(?:inc|sk|pk|rk)_(?:live_|test_)?[A-Za-z0-9]{16,}\b"),
    re.compile(r"\bxox[abpr]-[A-Za-z0-9-]{10,}"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
]
_TOKEN = re.compile(r"[A-Za-z0-9+_=-]{24,}")


def _entropy(s: str) -> float:
    counts = Counter(s)
    return -sum(n / len(s) * math.log2(n / len(s)) for n in counts.values())


def key_like_literals(text: str, known_names: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Key-shaped substrings of text; tokens starting with a known logical id (SAM's generated
    names such as ``DispatchFunctionRolePolicy0`` or hashed layer ids) are not candidates."""
    hits = [m.group(0) for shape in _KEY_SHAPES for m in shape.finditer(text)]
    for m in _TOKEN.finditer(text):
        token = m.group(0)
        if any(token.startswith(name) for name in known_names):
            continue
        digits = sum(c.isdigit() for c in token)
        mixed = digits >= 2 and any(c.isupper() for c in token) and any(c.islower() for c in token)
        if mixed and _entropy(token) > 4.0:
            hits.append(token)
    return hits


def logical_names(*templates: dict[str, Any]) -> set[str]:
    return {
        name for t in templates for section in ("Resources", "Parameters", "Outputs") for name in t.get(section, {})
    }


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def sam_template() -> dict[str, Any]:
    return _load_sam_template(TEMPLATE)


@pytest.fixture(scope="module")
def cfn(sam_template: dict[str, Any]) -> dict[str, Any]:
    return translate(sam_template)


@pytest.fixture(scope="module")
def cfn_json(cfn: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("translated") / "template.json"
    path.write_text(json.dumps(cfn, indent=1))
    return path


# --------------------------------------------------------------------------- 1-3: linters


def test_raw_template_passes_cfn_lint() -> None:
    result = _cfn_lint(TEMPLATE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_translated_template_passes_cfn_lint(cfn_json: Path) -> None:
    result = _cfn_lint(cfn_json)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow  # needs the SAM CLI (`make venv-sam`, which `make test` makes; `make unit` does not)
def test_sam_validate_lint() -> None:
    assert SAM_BIN.exists(), f"SAM CLI not found at {SAM_BIN}: run `make venv-sam` first"
    result = _run([str(SAM_BIN), "validate", "--lint", "--region", REGION, "--template", str(TEMPLATE)], cwd=REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_translation_rejects_a_misspelt_event_property(sam_template: dict[str, Any]) -> None:
    # Guards the guard: the offline translation must actually validate SAM event properties.
    from samtranslator.model.exceptions import InvalidDocumentException

    broken = copy.deepcopy(sam_template)
    props = broken["Resources"]["DispatchFunction"]["Properties"]["Events"]["Alerts"]["Properties"]
    props["BatchSiz"] = props.pop("BatchSize")
    with pytest.raises(InvalidDocumentException):
        translate(broken)


# --------------------------------------------------------------------------- 4: structure


def test_parameters(cfn: dict[str, Any]) -> None:
    params = cfn["Parameters"]
    assert params["IncidentIoApiKeySecretName"]["Default"] == "alert-courier/incident-io-api-key"
    assert params["McpServerUrl"]["Default"] == "https://mcp.incident.io/mcp"
    assert params["WebhookSecretPrefix"]["Default"] == "alert-courier/webhooks/"
    assert params["AlertSourceSecretPrefix"]["Default"] == "alert-courier/alert-sources/"
    assert params["DispatchMaxConcurrency"]["Default"] == 5
    assert params["DispatchMaxConcurrency"]["MinValue"] == 2  # Lambda's floor for MaximumConcurrency
    assert params["LogLevel"]["Default"] == "INFO"
    assert params["OperatorEmail"]["Default"] == ""  # alarms need no address to deploy; subscribe later
    assert params["RulesParameter"]["Default"] == ""  # no override: the bundled rules, no SSM access
    for name, spec in params.items():
        assert "NoEcho" not in spec, f"{name}: secrets are passed by name, never as parameter values"


def test_every_function_is_arm64_python313_with_the_common_layer(cfn: dict[str, Any]) -> None:
    functions = resources_of_type(cfn, "AWS::Lambda::Function")
    assert {"IngestFunction", "DispatchFunction"} <= set(functions)
    (layer_id,) = resources_of_type(cfn, "AWS::Lambda::LayerVersion")
    assert layer_id.startswith("CommonLayer")
    for name, fn in functions.items():
        props = fn["Properties"]
        assert props["Runtime"] == "python3.13", name
        assert props["Architectures"] == ["arm64"], name
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        assert props["LoggingConfig"]["LogFormat"] == "JSON", name
        # Lambda's level filter wins over POWERTOOLS_LOG_LEVEL, so both must follow the parameter.
        assert props["LoggingConfig"]["ApplicationLogLevel"] == {"Ref": "LogLevel"}, name
        assert {"Ref": layer_id} in props["Layers"], name
        env = props["Environment"]["Variables"]
        assert {k: env.get(k) for k in GLOBAL_ENV} == GLOBAL_ENV, name
    layer = cfn["Resources"][layer_id]["Properties"]
    assert layer["CompatibleRuntimes"] == ["python3.13"]
    assert layer["CompatibleArchitectures"] == ["arm64"]


def test_layer_is_built_for_the_runtime_and_architecture(sam_template: dict[str, Any]) -> None:
    layer = sam_template["Resources"]["CommonLayer"]
    assert layer["Properties"]["ContentUri"].rstrip("/") == "layers/common"
    assert layer["Metadata"] == {"BuildMethod": "python3.13", "BuildArchitecture": "arm64"}


@pytest.mark.parametrize(
    ("function_id", "memory", "timeout"),
    [("IngestFunction", 512, 10), ("DispatchFunction", 1024, 60), ("SchedulerFunction", 512, 60)],
)
def test_function_settings_and_environment(
    cfn: dict[str, Any], sam_template: dict[str, Any], function_id: str, memory: int, timeout: int
) -> None:
    props = cfn["Resources"][function_id]["Properties"]
    assert props["Handler"] == "app.lambda_handler"
    assert props["MemorySize"] == memory
    assert props["Timeout"] == timeout
    code_uri = sam_template["Resources"][function_id]["Properties"]["CodeUri"]
    assert code_uri.rstrip("/") == f"functions/{function_id.removesuffix('Function').lower()}"
    assert props["Environment"]["Variables"] == {**GLOBAL_ENV, **FUNCTION_ENV[function_id]}


@pytest.mark.parametrize(
    ("function_id", "settings_class"),
    [
        ("IngestFunction", "alert_courier.settings.IngestSettings"),
        ("DispatchFunction", "alert_courier.settings.DispatchSettings"),
        ("SchedulerFunction", "alert_courier.settings.SchedulerSettings"),
    ],
)
def test_template_sets_every_required_setting(cfn: dict[str, Any], function_id: str, settings_class: str) -> None:
    # Contract with the settings models: a required field missing from the environment fails at cold start.
    module_name, _, settings_class = settings_class.rpartition(".")
    settings = pytest.importorskip(module_name)
    model = getattr(settings, settings_class)
    prefix = model.model_config.get("env_prefix", "")
    required = {(prefix + name).upper() for name, field in model.model_fields.items() if field.is_required()}
    env = cfn["Resources"][function_id]["Properties"]["Environment"]["Variables"]
    assert required <= set(env), f"{function_id} lacks {sorted(required - set(env))}"


def test_http_api_routes_and_throttling(cfn: dict[str, Any]) -> None:
    paths = cfn["Resources"]["WebhookApi"]["Properties"]["Body"]["paths"]
    routes = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    assert routes == {
        ("POST", "/webhooks/{source}"),
        ("POST", "/heartbeats/{name}"),
        ("POST", "/maintenance"),
        ("GET", "/maintenance"),
        ("DELETE", "/maintenance/{window_id}"),
    }
    for path, ops in paths.items():
        for method, op in ops.items():
            uri = op["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
            assert "${IngestFunction.Arn}" in uri, (method, path)
    (stage,) = resources_of_type(cfn, "AWS::ApiGatewayV2::Stage").values()
    assert stage["Properties"]["StageName"] == "$default"
    throttle = stage["Properties"]["DefaultRouteSettings"]
    assert 0 < throttle["ThrottlingRateLimit"] <= throttle["ThrottlingBurstLimit"]


def test_alert_queue_is_fifo_with_a_fifo_dead_letter_queue(cfn: dict[str, Any]) -> None:
    queue = cfn["Resources"]["AlertQueue"]["Properties"]
    assert queue["FifoQueue"] is True
    assert queue["ContentBasedDeduplication"] is False
    assert queue["DeduplicationScope"] == "messageGroup"
    assert queue["FifoThroughputLimit"] == "perMessageGroupId"
    assert queue["MessageRetentionPeriod"] == 4 * 24 * 3600
    assert queue["SqsManagedSseEnabled"] is True
    assert "QueueName" not in queue  # CloudFormation names it (and adds .fifo)
    redrive = queue["RedrivePolicy"]
    assert redrive == {"deadLetterTargetArn": {"Fn::GetAtt": ["AlertDeadLetterQueue", "Arn"]}, "maxReceiveCount": 5}
    dlq = cfn["Resources"]["AlertDeadLetterQueue"]["Properties"]
    assert dlq["FifoQueue"] is True
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert dlq["SqsManagedSseEnabled"] is True


def test_a_resolution_is_remembered_longer_than_a_message_can_wait_to_be_replayed(cfn: dict[str, Any]) -> None:
    """A firing can wait in the queue (its retention) and then in the dead-letter queue (its retention) before an
    operator replays it; if its resolve was forgotten by then, the replay would open an incident nothing closes."""
    from datetime import timedelta

    from alert_courier.domain.group_state import RESOLVED_MEMORY

    resources = cfn["Resources"]
    longest_wait = sum(
        resources[name]["Properties"]["MessageRetentionPeriod"] for name in ("AlertQueue", "AlertDeadLetterQueue")
    )
    assert timedelta(seconds=longest_wait) < RESOLVED_MEMORY


def test_every_redrive_targets_a_queue_of_the_same_kind(cfn: dict[str, Any]) -> None:
    queues = resources_of_type(cfn, "AWS::SQS::Queue")
    for name, queue in queues.items():
        redrive = queue["Properties"].get("RedrivePolicy")
        if not redrive:
            continue
        target_id = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        target = queues[target_id]["Properties"]
        assert bool(target.get("FifoQueue")) == bool(queue["Properties"].get("FifoQueue")), (name, target_id)
        assert target["MessageRetentionPeriod"] >= queue["Properties"].get("MessageRetentionPeriod", 345600)


def test_sqs_event_sources_report_partial_failures_and_cap_concurrency(cfn: dict[str, Any]) -> None:
    queues = resources_of_type(cfn, "AWS::SQS::Queue")
    mappings = {
        name: m["Properties"]
        for name, m in resources_of_type(cfn, "AWS::Lambda::EventSourceMapping").items()
        if m["Properties"]["EventSourceArn"].get("Fn::GetAtt", [None])[0] in queues
    }
    assert {m["FunctionName"]["Ref"] for m in mappings.values()} >= {"DispatchFunction"}
    for name, mapping in mappings.items():
        queue = queues[mapping["EventSourceArn"]["Fn::GetAtt"][0]]["Properties"]
        function = cfn["Resources"][mapping["FunctionName"]["Ref"]]["Properties"]
        assert "ReportBatchItemFailures" in mapping["FunctionResponseTypes"], name
        assert "MaximumConcurrency" in mapping["ScalingConfig"], name
        # AWS guidance: visibility timeout at least 6x the consumer's timeout.
        assert queue["VisibilityTimeout"] >= 6 * function["Timeout"], name
        if queue.get("FifoQueue"):
            # Lambda rejects a batching window on FIFO queues and caps their batch at 10;
            # neither cfn-lint, sam validate nor the translator notices, so check it here.
            assert "MaximumBatchingWindowInSeconds" not in mapping, name
            assert mapping.get("BatchSize", 10) <= 10, name
    dispatch = next(m for m in mappings.values() if m["FunctionName"]["Ref"] == "DispatchFunction")
    assert dispatch["BatchSize"] == 10
    assert dispatch["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "DispatchMaxConcurrency"}


def _sqs_send_targets(role: dict[str, Any]) -> set[str]:
    targets = set()
    for st in role_statements(role):
        if st["Effect"] == "Allow" and any(a.lower().startswith("sqs:sendmessage") for a in _as_list(st["Action"])):
            for resource in _as_list(st["Resource"]):
                if "Fn::GetAtt" in resource:  # an on-failure destination: the queue's ARN
                    targets.add(resource["Fn::GetAtt"][0])
                else:  # SQSSendMessagePolicy's shape
                    targets.add(resource["Fn::Sub"][1]["queueName"]["Fn::GetAtt"][0])
    return targets


def test_queue_send_permissions(cfn: dict[str, Any]) -> None:
    # ingest enqueues alerts (and keeps the async events it could not queue); dispatch dead-letters poison
    # alerts itself (with a reason attached).
    assert _sqs_send_targets(function_role(cfn, "IngestFunction")) == {"AlertQueue", "IngestFailedEventsQueue"}
    assert _sqs_send_targets(function_role(cfn, "DispatchFunction")) == {"AlertDeadLetterQueue"}
    # the scheduler dead-letters a maintenance window's held alert that can never be acted on at the end, and
    # queues for dispatch a reconciled change it could not finish (README "Reconciliation")
    assert _sqs_send_targets(function_role(cfn, "SchedulerFunction")) == {"AlertDeadLetterQueue", "AlertQueue"}


def test_state_table_has_ttl_pitr_and_is_retained(cfn: dict[str, Any]) -> None:
    table = cfn["Resources"]["StateTable"]
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == [
        {"AttributeName": "history_group", "AttributeType": "S"},
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ]
    # the operator's `history` lookups (aws/history_index.py): every attribute, sorted by the item's sk. One index:
    # CloudFormation cannot add two to an existing table in one update (DynamoDB creates one per UpdateTable).
    [index] = props["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "history-by-group"
    assert index["KeySchema"] == [
        {"AttributeName": "history_group", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "ALL"}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True


def test_roles_use_only_sams_own_managed_policies(cfn: dict[str, Any]) -> None:
    for name, role in resources_of_type(cfn, "AWS::IAM::Role").items():
        assert set(role["Properties"].get("ManagedPolicyArns", [])) <= ALLOWED_MANAGED_POLICIES, name


def test_no_role_has_wildcard_secret_access(cfn: dict[str, Any]) -> None:
    params = parameter_defaults(cfn)
    for name, role in resources_of_type(cfn, "AWS::IAM::Role").items():
        for st in secret_statements(role):
            assert [a.lower() for a in _as_list(st["Action"])] == ["secretsmanager:getsecretvalue"], name
            for resource in _as_list(st["Resource"]):
                assert not resolve(resource, params).endswith(":secret:*"), name


def test_dispatch_reads_exactly_the_api_key_and_the_alert_source_prefix(cfn: dict[str, Any]) -> None:
    role = function_role(cfn, "DispatchFunction")
    # Symbolic check (parameters left as ${...}), then a concrete one with the defaults.
    prefix = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
    assert allowed_secret_patterns(role, {}) == {
        prefix + "${IncidentIoApiKeySecretName}-??????",
        prefix + "${AlertSourceSecretPrefix}*",
    }

    allowed = allowed_secret_patterns(role, parameter_defaults(cfn))
    assert can_read(allowed, secret_arn("alert-courier/incident-io-api-key"))
    assert can_read(allowed, secret_arn("alert-courier/alert-sources/alertmanager"))
    assert not can_read(allowed, secret_arn("alert-courier/incident-io-api-key-old"))
    assert not can_read(allowed, secret_arn("alert-courier/webhooks/alertmanager"))
    assert not can_read(allowed, secret_arn("something-else"))


def test_ingest_reads_webhook_secrets_but_never_the_api_key(cfn: dict[str, Any]) -> None:
    params = parameter_defaults(cfn)
    role = function_role(cfn, "IngestFunction")
    allowed = allowed_secret_patterns(role, params)
    assert allowed == {f"arn:aws:secretsmanager:{REGION}:{FAKE_ACCOUNT}:secret:alert-courier/webhooks/*"}
    assert can_read(allowed, secret_arn("alert-courier/webhooks/alertmanager"))
    assert not can_read(allowed, secret_arn("alert-courier/incident-io-api-key"))
    assert not can_read(allowed, secret_arn("alert-courier/alert-sources/alertmanager"))
    # Explicit deny on the API key, so widening WebhookSecretPrefix cannot expose it.
    denied = {resolve(r, params) for st in secret_statements(role, "Deny") for r in _as_list(st["Resource"])}
    assert can_read(denied, secret_arn("alert-courier/incident-io-api-key"))
    assert not can_read(denied, secret_arn("alert-courier/webhooks/alertmanager"))


def test_only_dispatch_and_the_scheduler_can_read_the_api_key(cfn: dict[str, Any]) -> None:
    params = parameter_defaults(cfn)
    api_key = secret_arn(params["IncidentIoApiKeySecretName"])
    readers = {
        name
        for name, role in resources_of_type(cfn, "AWS::IAM::Role").items()
        if can_read(allowed_secret_patterns(role, params), api_key)
    }
    assert readers == {"DispatchFunctionRole", "SchedulerFunctionRole"}


RULES_READERS = ("IngestFunction", "DispatchFunction", "SchedulerFunction")


def condition_holds(cfn: dict[str, Any], condition: Any, params: dict[str, str]) -> bool:
    """Evaluates the condition functions the template uses (Not, Equals, Select, Split, Ref)."""
    if isinstance(condition, str):
        return condition_holds(cfn, cfn["Conditions"][condition], params)
    ((function, arguments),) = condition.items()
    if function == "Fn::Not":
        return not condition_holds(cfn, arguments[0], params)
    assert function == "Fn::Equals", condition
    left, right = (_value(argument, params) for argument in arguments)
    return left == right


def _value(value: Any, params: dict[str, str]) -> Any:
    if isinstance(value, dict) and "Fn::Select" in value:
        index, items = value["Fn::Select"]
        return _value(items, params)[index]
    if isinstance(value, dict) and "Fn::Split" in value:
        separator, text = value["Fn::Split"]
        return _value(text, params).split(separator)
    return resolve(value, params)


def ssm_policies(role: dict[str, Any]) -> list[Any]:
    return [
        policy
        for policy in role["Properties"].get("Policies", [])
        if "ssm:" in json.dumps(policy.get("Fn::If", policy)).lower()
    ]


def readable_parameters(cfn: dict[str, Any], function_id: str, rules_parameter: str) -> list[str]:
    params = {**parameter_defaults(cfn), "RulesParameter": rules_parameter}
    arns = []
    for policy in ssm_policies(function_role(cfn, function_id)):
        condition, granted, _ = policy["Fn::If"]
        if not condition_holds(cfn, condition, params):
            continue
        for statement in granted["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow" and _as_list(statement["Action"]) == ["ssm:GetParameter"]
            for resource in _as_list(statement["Resource"]):
                if "Fn::If" in resource:
                    which, if_true, if_false = resource["Fn::If"]
                    resource = if_true if condition_holds(cfn, which, params) else if_false
                arns.append(resolve(resource, params))
    return arns


def ssm_arn(path: str) -> str:
    return f"arn:aws:ssm:{REGION}:{FAKE_ACCOUNT}:parameter/{path}"


@pytest.mark.parametrize("function_id", RULES_READERS)
def test_the_rules_parameter_is_readable_exactly_and_only_when_it_is_set(cfn: dict[str, Any], function_id: str) -> None:
    # Each function that reads rules (ingest for the heartbeat names) may read that one parameter, nothing else.
    assert readable_parameters(cfn, function_id, "") == []
    assert readable_parameters(cfn, function_id, "/alert-courier/rules") == [ssm_arn("alert-courier/rules")]
    assert readable_parameters(cfn, function_id, "alert-courier-rules") == [ssm_arn("alert-courier-rules")]
    [policy] = ssm_policies(function_role(cfn, function_id))
    assert policy["Fn::If"][0] == "HasRulesParameter" and policy["Fn::If"][2] == {"Ref": "AWS::NoValue"}


def test_no_other_role_reads_parameters_and_the_name_is_checked(cfn: dict[str, Any]) -> None:
    readers = {f"{function_id}Role" for function_id in RULES_READERS}
    for name, role in resources_of_type(cfn, "AWS::IAM::Role").items():
        if name not in readers:
            assert ssm_policies(role) == [], name
        for statement in role_statements(role):
            actions = [action.lower() for action in _as_list(statement.get("Action", []))]
            assert not any(action.startswith("ssm:") and action != "ssm:getparameter" for action in actions), name
            assert "*" not in actions, name
    pattern = re.compile(cfn["Parameters"]["RulesParameter"]["AllowedPattern"])
    for good in ("", "/alert-courier/rules", "alert-courier-rules", "/a.b/c_d-1"):
        assert pattern.fullmatch(good), good
    for bad in ("*", "/alert-courier/*", "a//b", "/", "rules/", "a b", "arn:aws:ssm:x"):
        assert not pattern.fullmatch(bad), bad


def test_the_rules_override_alarm_watches_the_metric_the_code_counts(cfn: dict[str, Any]) -> None:
    from alert_courier.aws.rules_source import INVALID_OVERRIDE_METRIC

    props = cfn["Resources"]["RulesOverrideInvalidAlarm"]["Properties"]
    assert props["MetricName"] == INVALID_OVERRIDE_METRIC
    assert props["Namespace"] == GLOBAL_ENV["POWERTOOLS_METRICS_NAMESPACE"]
    assert props["Dimensions"] == [{"Name": "service", "Value": GLOBAL_ENV["POWERTOOLS_SERVICE_NAME"]}]


def test_key_detector_flags_key_shaped_strings() -> None:
    assert key_like_literals("token: inc_9fQ2LxR7tP0aZkW3mN8vB5cY")
    assert key_like_literals("Authorization: Bearer abc.def.ghi")
    assert key_like_literals("value: Zq7Xr2Lp9Wt4Kd8Vb3Nm6Hs1Jf5Gc0Ya")
    assert not key_like_literals("arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole")
    assert not key_like_literals("Ref: DispatchFunctionRolePolicy10", {"DispatchFunctionRole"})


def test_no_key_like_literal_anywhere(cfn: dict[str, Any], sam_template: dict[str, Any]) -> None:
    names = logical_names(cfn, sam_template)
    for label, text in (
        ("template.yaml", TEMPLATE.read_text()),
        ("samconfig.toml", SAMCONFIG.read_text()),
        ("translated template", json.dumps(cfn)),
    ):
        assert key_like_literals(text, names) == [], label
    for name, fn in resources_of_type(cfn, "AWS::Lambda::Function").items():
        for var, value in fn["Properties"]["Environment"]["Variables"].items():
            if re.search(r"KEY|TOKEN|PASSWORD|SECRET", var) and var not in GLOBAL_ENV:
                # Names of secrets only, always from parameters: never the secret material itself.
                assert var.endswith(("_SECRET", "_SECRET_PREFIX")), (name, var)
                assert isinstance(value, dict) and set(value) == {"Ref"}, (name, var)


def test_outputs(cfn: dict[str, Any]) -> None:
    outputs = cfn["Outputs"]
    assert outputs["WebhookUrl"]["Value"] == {
        "Fn::Sub": "https://${WebhookApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/webhooks/"
    }
    assert outputs["MaintenanceUrl"]["Value"] == {
        "Fn::Sub": "https://${WebhookApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/maintenance"
    }
    assert outputs["AlertQueueUrl"]["Value"] == {"Ref": "AlertQueue"}
    assert outputs["AlertDeadLetterQueueUrl"]["Value"] == {"Ref": "AlertDeadLetterQueue"}
    assert outputs["StateTableName"]["Value"] == {"Ref": "StateTable"}
    assert outputs["OperatorAlarmTopicArn"]["Value"] == {"Ref": "OperatorAlarmTopic"}
    assert "${OperationsDashboard}" in outputs["DashboardUrl"]["Value"]["Fn::Sub"]


def test_samconfig_has_guided_deploy_defaults_and_no_account_ids() -> None:
    config = tomllib.loads(SAMCONFIG.read_text())
    assert config["version"] == 0.1
    default = config["default"]
    assert default["global"]["parameters"]["stack_name"] == "alert-courier"
    deploy = default["deploy"]["parameters"]
    assert "CAPABILITY_IAM" in deploy["capabilities"]
    assert deploy["resolve_s3"] is True
    assert deploy["confirm_changeset"] is True
    assert not re.search(r"(?<!\d)\d{12}(?!\d)", SAMCONFIG.read_text()), "no AWS account ids in samconfig.toml"


# --------------------------------------------------------------------------- 4b: alarms and dashboard

OPERATOR_TOPIC = "OperatorAlarmTopic"
# logical id -> (namespace, metric, dimension, what it points at, statistic, threshold); all "> threshold".
ALARMS = {
    "DeadLetterAlarm": (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "QueueName",
        {"Fn::GetAtt": ["AlertDeadLetterQueue", "QueueName"]},
        "Maximum",
        0,
    ),
    "AlertBacklogAlarm": (
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        "QueueName",
        {"Fn::GetAtt": ["AlertQueue", "QueueName"]},
        "Maximum",
        900,
    ),
    "DispatchErrorsAlarm": ("AWS/Lambda", "Errors", "FunctionName", {"Ref": "DispatchFunction"}, "Sum", 0),
    "DispatchThrottlesAlarm": ("AWS/Lambda", "Throttles", "FunctionName", {"Ref": "DispatchFunction"}, "Sum", 0),
    "IngestErrorsAlarm": ("AWS/Lambda", "Errors", "FunctionName", {"Ref": "IngestFunction"}, "Sum", 0),
    "IngestFailedEventsAlarm": (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "QueueName",
        {"Fn::GetAtt": ["IngestFailedEventsQueue", "QueueName"]},
        "Maximum",
        0,
    ),
    "SchedulerErrorsAlarm": ("AWS/Lambda", "Errors", "FunctionName", {"Ref": "SchedulerFunction"}, "Sum", 0),
    "WebhookApi5xxAlarm": ("AWS/ApiGateway", "5xx", "ApiId", {"Ref": "WebhookApi"}, "Sum", 0),
    # An EMF metric of dispatch and the scheduler (Powertools' namespace and default `service` dimension).
    "RulesOverrideInvalidAlarm": ("AlertCourier", "RulesOverrideInvalid", "service", "alert-courier", "Sum", 0),
}
# Subscription protocols that reach a person without passing through alert-courier or incident.io.
HUMAN_PROTOCOLS = {"email", "email-json", "sms"}


def test_alarms_watch_dead_letters_backlog_function_errors_throttles_and_api_5xx(cfn: dict[str, Any]) -> None:
    alarms = resources_of_type(cfn, "AWS::CloudWatch::Alarm")
    assert set(alarms) == set(ALARMS)
    for name, (namespace, metric, dimension, target, statistic, threshold) in ALARMS.items():
        props = alarms[name]["Properties"]
        assert (props["Namespace"], props["MetricName"]) == (namespace, metric), name
        assert props["Dimensions"] == [{"Name": dimension, "Value": target}], name
        assert props["Statistic"] == statistic, name
        assert props["ComparisonOperator"] == "GreaterThanThreshold", name
        assert props["Threshold"] == threshold, name
        assert props["EvaluationPeriods"] == 1, name
        # No traffic is not a problem: quiet queues and idle functions publish no data points.
        assert props["TreatMissingData"] == "notBreaching", name
        assert props["AlarmDescription"].strip(), name


def test_dead_letter_alarm_watches_the_queue_alerts_are_redriven_to(cfn: dict[str, Any]) -> None:
    target = cfn["Resources"]["AlertQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    dimensions = cfn["Resources"]["DeadLetterAlarm"]["Properties"]["Dimensions"]
    assert dimensions == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [target, "QueueName"]}}]
    # ... and the function alarms watch the function that consumes the alert queue.
    (mapping,) = [
        m["Properties"]
        for m in resources_of_type(cfn, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": ["AlertQueue", "Arn"]}
    ]
    consumer = mapping["FunctionName"]
    for name in ("DispatchErrorsAlarm", "DispatchThrottlesAlarm"):
        assert cfn["Resources"][name]["Properties"]["Dimensions"][0]["Value"] == consumer, name


def test_every_alarm_reaches_people_through_sns_never_through_alert_courier(cfn: dict[str, Any]) -> None:
    assert cfn["Resources"][OPERATOR_TOPIC]["Type"] == "AWS::SNS::Topic"
    for name, alarm in resources_of_type(cfn, "AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        assert props.get("ActionsEnabled", True) is True, name
        assert props["AlarmActions"] == [{"Ref": OPERATOR_TOPIC}], name
        assert props["OKActions"] == [{"Ref": OPERATOR_TOPIC}], name  # people hear about the recovery too
    subscriptions = [
        s["Properties"]
        for s in resources_of_type(cfn, "AWS::SNS::Subscription").values()
        if s["Properties"]["TopicArn"] == {"Ref": OPERATOR_TOPIC}
    ]
    assert subscriptions, "the operator topic needs a (conditional) subscription"
    for subscription in subscriptions:
        # Not a webhook (the HTTP API, incident.io), not a queue or a function of this stack.
        assert subscription["Protocol"] in HUMAN_PROTOCOLS, subscription
        assert subscription["Endpoint"] == {"Ref": "OperatorEmail"}, subscription
    topic_refs = {"Ref": OPERATOR_TOPIC}, {"Fn::GetAtt": [OPERATOR_TOPIC, "TopicArn"]}
    for name, function in resources_of_type(cfn, "AWS::Lambda::Function").items():
        text = json.dumps(function["Properties"])
        assert not any(json.dumps(ref) in text for ref in topic_refs), f"{name} must not depend on the alarm topic"
    for name, permission in resources_of_type(cfn, "AWS::Lambda::Permission").items():
        # SNS may invoke a function only for CloudWatchAlarmTopic (monitored alarms), never the operator topic.
        if permission["Properties"]["Principal"] == "sns.amazonaws.com":
            assert permission["Properties"]["SourceArn"] == {"Ref": "CloudWatchAlarmTopic"}, name


def test_operator_email_is_subscribed_only_when_given(cfn: dict[str, Any], sam_template: dict[str, Any]) -> None:
    subscription = cfn["Resources"]["OperatorEmailSubscription"]
    assert subscription["Condition"] == "HasOperatorEmail"
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": OPERATOR_TOPIC},
        "Protocol": "email",
        "Endpoint": {"Ref": "OperatorEmail"},
    }
    assert cfn["Conditions"]["HasOperatorEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "OperatorEmail"}, ""]}]}
    # CloudFormation matches AllowedPattern against the whole value.
    pattern = re.compile(cfn["Parameters"]["OperatorEmail"]["AllowedPattern"])
    for good in ("", "oncall@example.com", "ops+alert-courier@team.example.co.uk"):
        assert pattern.fullmatch(good), good
    for bad in ("oncall", "a@b", "one@example.com,two@example.com", " oncall@example.com", "a@@example.com"):
        assert not pattern.fullmatch(bad), bad
    groups = sam_template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [name for group in groups for name in group["Parameters"]]
    assert sorted(grouped) == sorted(sam_template["Parameters"]), "every parameter in exactly one console group"


def dashboard_body(cfn: dict[str, Any]) -> dict[str, Any]:
    """The dashboard JSON with each ${Var} of its Fn::Sub replaced by "<Var>" (after checking Var exists)."""
    (dashboard,) = resources_of_type(cfn, "AWS::CloudWatch::Dashboard").values()
    text = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    assert isinstance(text, str)
    for variable in re.findall(r"\$\{([^}!]+)\}", text):
        resource, _, attribute = variable.partition(".")
        assert variable in PSEUDO or resource in cfn["Resources"], f"${{{variable}}} names nothing"
        if attribute:
            assert attribute in ("Arn", "QueueName"), variable
    body: dict[str, Any] = json.loads(re.sub(r"\$\{([^}!]+)\}", r"<\1>", text))
    return body


def _widget_metrics(body: dict[str, Any]) -> list[list[Any]]:
    return [m for w in body["widgets"] if w["type"] == "metric" for m in w["properties"]["metrics"]]


def test_dashboard_json_is_valid_and_its_widgets_tile_the_grid(cfn: dict[str, Any]) -> None:
    body = dashboard_body(cfn)
    taken: set[tuple[int, int]] = set()
    for widget in body["widgets"]:
        assert widget["type"] in ("metric", "text", "alarm"), widget
        assert widget["x"] >= 0 and widget["x"] + widget["width"] <= 24, widget
        cells = {
            (x, y)
            for x in range(widget["x"], widget["x"] + widget["width"])
            for y in range(widget["y"], widget["y"] + widget["height"])
        }
        assert not cells & taken, f"overlapping widget: {widget.get('properties', {}).get('title')}"
        taken |= cells
        if widget["type"] == "metric":
            props = widget["properties"]
            assert props["region"] == "<AWS::Region>", props["title"]
            assert props["title"] and props["metrics"], props


def test_dashboard_shows_alert_flow_dlq_dispatch_and_ingest(cfn: dict[str, Any]) -> None:
    body = dashboard_body(cfn)
    metrics = _widget_metrics(body)
    plain = {tuple(part for part in m if not isinstance(part, dict)) for m in metrics if isinstance(m[0], str)}
    # The EMF metrics the functions emit: Powertools' namespace and its default `service` dimension.
    namespace = GLOBAL_ENV["POWERTOOLS_METRICS_NAMESPACE"]
    service = GLOBAL_ENV["POWERTOOLS_SERVICE_NAME"]
    for metric in ("AlertsAccepted", "AlertsDispatched", "DeadLettered"):
        assert (namespace, metric, "service", service) in plain, metric
    expressions = [part["expression"] for m in metrics for part in m if isinstance(part, dict) and "expression" in part]
    rejected = [e for e in expressions if '"AlertsRejected"' in e]
    assert rejected and all(e.startswith("SEARCH(") and f"{{{namespace},reason,service}}" in e for e in rejected)
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "<AlertDeadLetterQueue.QueueName>") in plain
    for metric in ("Duration", "Errors", "Throttles"):
        assert ("AWS/Lambda", metric, "FunctionName", "<DispatchFunction>") in plain, metric
    assert ("AWS/Lambda", "Errors", "FunctionName", "<IngestFunction>") in plain
    for metric in ("4xx", "5xx"):
        assert ("AWS/ApiGateway", metric, "ApiId", "<WebhookApi>") in plain, metric
    listed = {arn for w in body["widgets"] if w["type"] == "alarm" for arn in w["properties"]["alarms"]}
    assert listed == {f"<{name}.Arn>" for name in resources_of_type(cfn, "AWS::CloudWatch::Alarm")}


# --------------------------------------------------------------------------- 5: sam build (slow)


def _python313_bin_dir() -> Path:
    """A directory holding a working python3.13 (pyenv shims alone fail unless the version is selected)."""
    candidates = []
    if sys.version_info[:2] == (3, 13):
        candidates.append(Path(sys.base_prefix) / "bin")
    candidates += sorted(Path("/root/.pyenv/versions").glob("3.13*/bin"), reverse=True)
    candidates += sorted((Path.home() / ".pyenv" / "versions").glob("3.13*/bin"), reverse=True)
    for directory in candidates:
        exe = directory / "python3.13"
        if exe.exists() and _run([str(exe), "-c", "pass"]).returncode == 0:
            return directory
    pytest.fail("sam build needs a python3.13 interpreter; none found (install 3.13 with pyenv)")


def _is_aarch64_elf(path: Path) -> bool:
    header = path.read_bytes()[:20]
    return header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == 183  # EM_AARCH64


def _requirement_names(requirements: Path) -> set[str]:
    names = set()
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[\s\[<>=!~;]", line, maxsplit=1)[0].lower().replace("-", "_"))
    return names


@pytest.mark.slow
def test_sam_build_produces_an_importable_layer_and_function_code(tmp_path: Path) -> None:
    assert SAM_BIN.exists(), f"SAM CLI not found at {SAM_BIN}: run `make venv-sam` first"
    build_dir = tmp_path / "build"
    env = {"PATH": f"{_python313_bin_dir()}{os.pathsep}{os.environ['PATH']}"}
    cmd = [str(SAM_BIN), "build", "--template", str(TEMPLATE), "--build-dir", str(build_dir)]
    cmd += ["--region", REGION, "--no-cached"]
    result = _run(cmd, cwd=REPO_ROOT, env=env, timeout=280)
    assert result.returncode == 0, result.stdout + result.stderr

    # The layer is mounted at /opt: our package and every dependency must sit under python/.
    site = build_dir / "CommonLayer" / "python"
    assert (site / "alert_courier" / "__init__.py").is_file()
    source_modules = {p.relative_to(REPO_ROOT / "layers/common") for p in (REPO_ROOT / "layers/common").rglob("*.py")}
    assert all((site / rel).is_file() for rel in source_modules)
    installed = {p.name.split("-", 1)[0].lower() for p in site.glob("*.dist-info")}
    assert _requirement_names(REPO_ROOT / "layers/common/requirements.txt") <= installed
    native = list(site.rglob("*.so"))
    assert native, "expected compiled wheels (pydantic_core, ...) in the layer"
    assert [p for p in native if not _is_aarch64_elf(p)] == [], "layer must carry arm64 (aarch64) wheels"

    for function_id in ("IngestFunction", "DispatchFunction"):
        code = build_dir / function_id
        assert (code / "app.py").is_file(), function_id
        # Dependencies come from the layer only: a function directory stays small.
        assert not (code / "alert_courier").exists(), function_id
        assert not list(code.glob("*.dist-info")), function_id
