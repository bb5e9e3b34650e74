"""`IncidentIoMcp` against the local incident.io simulator over real HTTP: request counts, retries, rotation, safety.

One simulator per module (`POST /_sim/reset` between tests). Secrets Manager and DynamoDB are moto in-process,
read through the real Powertools `SecretsProvider` so secret re-reads are counted at the AWS API. Retries never
really wait: `sleep` is a fake clock that records each delay, and the jitter comes from a seeded RNG.
"""

from __future__ import annotations

import copy
import logging
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws

from alert_courier.aws.api_key import ApiKeySource
from alert_courier.incident_io.mcp_client import SAFETY_MARGIN_SECONDS, IncidentIoMcp
from alert_courier.incident_io.retry_policy import RetryPolicy
from alert_courier.incident_io.tool_errors import FailureKind, ToolCallError, from_error_text
from alert_courier.incident_io.tool_table import escalation_from_result, incident_from_result, suggestion_from_result
from alert_courier_local.simulator import RunningSimulator, SimEvent, start_simulator
from alert_courier_local.simulator import schemas as simulator_schemas

API_KEY = "inc-live-Zq7XkP2vR9-alert-courier-MUST-NOT-LEAK"
ROTATED_KEY = "inc-live-Wm4TnB8sE1-rotated-MUST-NOT-LEAK"
SECRET_NAME = "alert-courier/incident-io-api-key"
SEED = 20261125
BASE, CAP, BUDGET, ATTEMPTS = 0.2, 1.0, 10.0, 4
CALL_TIMEOUT = 1.0  # seconds; only the timeout tests really wait for it


# ---- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    running = start_simulator(port=0, api_keys={API_KEY})
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def fresh(sim: RunningSimulator) -> None:
    sim.simulator.on_event = None
    assert httpx.post(f"{sim.url}/_sim/reset", timeout=10).status_code == 200


class FakeClock:
    """`sleep` records the delay and moves `monotonic` on by it; nothing really waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.delays: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


class SecretReads:
    """The real Powertools SecretsProvider over moto, counting GetSecretValue calls that reach the API."""

    def __init__(self) -> None:
        self.client = boto3.client("secretsmanager")
        self.fetches = 0
        self.client.meta.events.register("before-call.secrets-manager.GetSecretValue", self._count)

    def _count(self, **_: Any) -> None:
        self.fetches += 1

    def source(self) -> ApiKeySource:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        return ApiKeySource(SECRET_NAME, SecretsProvider(boto3_client=self.client))

    def store(self, value: str) -> None:
        self.client.put_secret_value(SecretId=SECRET_NAME, SecretString=value)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        boto3.client("secretsmanager").create_secret(Name=SECRET_NAME, SecretString=f'{{"api_key": "{API_KEY}"}}')
        yield


@pytest.fixture
def secrets(aws: None) -> SecretReads:
    return SecretReads()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def policy(**overrides: Any) -> RetryPolicy:
    settings: dict[str, Any] = {"max_attempts": ATTEMPTS, "base_seconds": BASE, "cap_seconds": CAP}
    settings |= {"budget_seconds": BUDGET, "rng": random.Random(SEED)}
    return RetryPolicy(**(settings | overrides))


def expected_jitter(ceilings: list[float]) -> list[float]:
    """The delays the seeded policy must produce: one uniform draw per retry, in order."""
    rng = random.Random(SEED)
    return [rng.uniform(0, ceiling) for ceiling in ceilings]


def ceiling(retry: int) -> float:
    return min(CAP, BASE * 2 ** (retry - 1))


MakeClient = Callable[..., IncidentIoMcp]


@pytest.fixture
def make_client(sim: RunningSimulator, secrets: SecretReads, clock: FakeClock) -> Iterator[MakeClient]:
    made: list[IncidentIoMcp] = []

    def make(mode: str = "auto", call_timeout: float = CALL_TIMEOUT, **overrides: Any) -> IncidentIoMcp:
        client = IncidentIoMcp(
            sim.mcp_url,
            overrides.pop("api_key", None) or secrets.source(),
            mode=mode,
            call_timeout_seconds=call_timeout,
            policy=overrides.pop("policy", None) or policy(),
            sleep=clock.sleep,
            monotonic=clock.monotonic,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def stats(sim: RunningSimulator) -> dict[str, Any]:
    return httpx.get(f"{sim.url}/_sim/stats", timeout=10).json()


class Meter:
    """What the simulator counted between `start()` and `delta()`."""

    def __init__(self, sim: RunningSimulator) -> None:
        self.sim = sim
        self.start()

    def start(self) -> None:
        self.before = stats(self.sim)

    def delta(self) -> dict[str, Any]:
        after = stats(self.sim)
        methods = {
            m: n - self.before["http_requests_by_method"].get(m, 0) for m, n in after["http_requests_by_method"].items()
        }
        tools = {t: n - self.before["tool_calls"].get(t, 0) for t, n in after["tool_calls"].items()}
        return {
            "http_requests": after["http_requests"] - self.before["http_requests"],
            "by_method": {m: n for m, n in methods.items() if n},
            "tool_calls": {t: n for t, n in tools.items() if n},
        }


def set_faults(sim: RunningSimulator, **faults: Any) -> None:
    response = httpx.post(f"{sim.url}/_sim/faults", json=faults, timeout=10)
    assert response.status_code == 200, response.text


def fault_for(sim: RunningSimulator, times: int = 1, **faults: Any) -> list[SimEvent]:
    """Sets faults over HTTP and clears them after they have hit `times` tool calls (the simulator's events)."""
    hits: list[SimEvent] = []

    def on_event(event: SimEvent) -> None:
        if event.kind == "tool" and event.outcome.startswith("fault"):
            hits.append(event)
            if len(hits) == times:
                sim.simulator.set_faults(dict.fromkeys(faults))

    sim.simulator.on_event = on_event
    set_faults(sim, **faults)
    return hits


def warm(client: IncidentIoMcp) -> None:
    client.call_tool("incident_list", {"page_size": 1})


def incidents(sim: RunningSimulator) -> list[dict[str, Any]]:
    return sim.simulator.state_snapshot()["incidents"]


# ---- one HTTP request per warm call -----------------------------------------------------------

CONNECT_AND_FIRST_CALL = {
    # discover probe answered; tools/list once per connection (input schemas, and the SDK's output-schema
    # cache, so no hidden tools/list on a tool's first call); then the call
    "auto": {"server/discover": 1, "tools/list": 1, "tools/call": 1},
    # initialize handshake, the initialized notification, the standing GET SSE stream; tools/list; the call
    "legacy": {"initialize": 1, "notifications/initialized": 1, "GET": 1, "tools/list": 1, "tools/call": 1},
}


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_connect_costs_a_fixed_number_of_requests_then_each_warm_call_exactly_one(
    sim: RunningSimulator, make_client: MakeClient, secrets: SecretReads, mode: str
) -> None:
    client = make_client(mode)
    meter = Meter(sim)
    created = client.call_tool("incident_create", {"name": "warm-up", "idempotency_key": "warm-up-1"})
    first = meter.delta()
    assert first["by_method"] == CONNECT_AND_FIRST_CALL[mode]
    assert first["http_requests"] == {"auto": 3, "legacy": 5}[mode]

    reference = created["incident"]["reference"]
    calls: list[tuple[str, dict[str, Any]]] = [
        ("incident_create", {"name": "another", "idempotency_key": "warm-up-2"}),
        ("incident_list", {"page_size": 5}),
        ("incident_show", {"id": reference}),
        ("incident_update", {"incident_id": reference, "summary": "still warm"}),
        ("escalation_path_list", {}),
        ("schedule_list", {}),
        ("alert_list", {}),
        ("incident_list", {}),
    ]
    for name, arguments in calls:
        meter.start()
        client.call_tool(name, arguments)
        assert meter.delta() == {"http_requests": 1, "by_method": {"tools/call": 1}, "tool_calls": {name: 1}}, name
    meter.start()
    organisation = client.read_resource("config://organisation")
    assert organisation and meter.delta()["by_method"] == {"resources/read": 1}
    assert client.connects == 1 and secrets.fetches == 1


def test_a_slow_first_sdk_import_is_not_counted_against_the_first_calls_timeout(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cold container imports the SDK on its first call (up to ~1.5 s from a package without bytecode): on the
    caller's thread, before the attempt is timed, so the first incident of a cold container is not timed out."""
    import alert_courier.incident_io.mcp_client as mcp_client

    real_load = mcp_client.load_sdk
    loaded_on: list[str] = []

    def slow_load() -> None:
        if not loaded_on:  # the first import is the slow one
            time.sleep(CALL_TIMEOUT + SAFETY_MARGIN_SECONDS + 0.3)  # longer than an attempt may take in all
        loaded_on.append(threading.current_thread().name)
        real_load()

    monkeypatch.setattr(mcp_client, "load_sdk", slow_load)
    client = make_client()
    assert "incidents" in client.call_tool("incident_list", {"page_size": 1})
    assert loaded_on and set(loaded_on) == {threading.current_thread().name}


# ---- transient failures are retried, with full jitter, within the budget -------------------------


def test_503_is_retried_with_full_jitter_even_for_a_create(
    sim: RunningSimulator, make_client: MakeClient, clock: FakeClock
) -> None:
    client = make_client()
    warm(client)
    set_faults(sim, status_5xx=2)  # the next two calls get HTTP 503: turned away, so retrying cannot duplicate
    meter = Meter(sim)
    client.call_tool("incident_create", {"name": "after two 503s"})
    assert meter.delta() == {"http_requests": 3, "by_method": {"tools/call": 3}, "tool_calls": {"incident_create": 3}}
    assert clock.delays == expected_jitter([ceiling(1), ceiling(2)])
    assert all(0 <= d <= ceiling(n) for n, d in enumerate(clock.delays, 1))
    assert len(incidents(sim)) == 1 and client.connects == 1


def test_429_waits_at_least_retry_after_and_gives_up_within_the_budget(
    sim: RunningSimulator, make_client: MakeClient, clock: FakeClock
) -> None:
    client = make_client()
    warm(client)
    set_faults(sim, status_429=2, retry_after=3)
    meter = Meter(sim)
    client.call_tool("incident_list", {})
    assert meter.delta()["tool_calls"] == {"incident_list": 3}
    assert clock.delays == [3.0, 3.0]  # Retry-After (3 s) is above the jitter ceilings (0.2 s, 0.4 s)

    clock.delays.clear()
    set_faults(sim, status_429=True, retry_after=4)  # every call; a 4 s wait each time, budget 10 s
    meter.start()
    with pytest.raises(ToolCallError) as raised:
        client.call_tool("incident_list", {})
    assert (raised.value.kind, raised.value.status, raised.value.retry_after) == (FailureKind.TRANSIENT, 429, 4.0)
    assert meter.delta()["tool_calls"] == {"incident_list": 3}  # a third wait would pass the 10 s budget
    assert clock.delays == [4.0, 4.0] and sum(clock.delays) <= BUDGET


def test_a_dropped_connection_is_retried_for_a_read_and_reconnects(
    sim: RunningSimulator, make_client: MakeClient, clock: FakeClock, secrets: SecretReads
) -> None:
    client = make_client()
    warm(client)
    hits = fault_for(sim, drop_connection_rate=1.0)
    meter = Meter(sim)
    client.call_tool("incident_list", {}, retry_ambiguous=True)
    # dropped call, then a new connection (discover + tools/list: the SDK closes the session), then the call
    assert meter.delta()["by_method"] == {"tools/call": 2, "server/discover": 1, "tools/list": 1}
    assert len(hits) == 1 and client.connects == 2
    assert clock.delays == expected_jitter([ceiling(1)])
    assert secrets.fetches == 1  # the reconnect used the cached key


def test_a_dropped_connection_under_a_create_is_ambiguous_and_not_repeated(
    sim: RunningSimulator, make_client: MakeClient, clock: FakeClock
) -> None:
    client = make_client()
    warm(client)
    fault_for(sim, drop_connection_rate=1.0)
    meter = Meter(sim)
    with pytest.raises(ToolCallError) as raised:
        client.call_tool("incident_create", {"name": "dropped"})  # no idempotency key: not safe to repeat
    assert raised.value.kind is FailureKind.AMBIGUOUS
    assert meter.delta()["tool_calls"] == {"incident_create": 1} and clock.delays == []
    meter.start()
    client.call_tool("incident_list", {})  # the client recovers: one reconnect, then the call
    assert meter.delta()["by_method"] == {"server/discover": 1, "tools/list": 1, "tools/call": 1}


def test_error_rate_kinds_in_turn_503_429_then_500_which_only_a_repeatable_call_retries(
    sim: RunningSimulator, make_client: MakeClient, clock: FakeClock
) -> None:
    client = make_client()
    warm(client)
    set_faults(sim, error_rate=1.0, retry_after=1)  # every call fails, taking turns: 503, 429, tool 500, 503
    meter = Meter(sim)
    with pytest.raises(ToolCallError) as raised:
        client.call_tool("incident_list", {}, retry_ambiguous=True)
    assert (raised.value.kind, raised.value.status) == (FailureKind.TRANSIENT, 503)
    assert meter.delta()["tool_calls"] == {"incident_list": ATTEMPTS}
    jitter = expected_jitter([ceiling(1), ceiling(2), ceiling(3)])
    assert clock.delays == [jitter[0], max(jitter[1], 1.0), jitter[2]]
    assert sum(clock.delays) <= BUDGET

    set_faults(sim, error_rate=0)
    set_faults(sim, error_rate=1.0, seed=0)  # restart the turns at 503
    clock.delays.clear()
    meter.start()
    with pytest.raises(ToolCallError) as raised:
        client.call_tool("incident_create", {"name": "never twice"})
    # a 500 may come after the server acted: a create without an idempotency key stops there
    assert (raised.value.kind, raised.value.status) == (FailureKind.AMBIGUOUS, 500)
    assert meter.delta()["tool_calls"] == {"incident_create": 3} and len(clock.delays) == 2


def test_a_partial_error_rate_succeeds_after_exactly_the_failed_attempts(
    sim: RunningSimulator, make_client: MakeClient, clock: FakeClock
) -> None:
    client = make_client()
    warm(client)
    failures: list[SimEvent] = []
    sim.simulator.on_event = lambda e: failures.append(e) if e.outcome.startswith("fault") else None
    set_faults(sim, error_rate=0.6, seed=22, error_kinds=["http_503"])  # at most 3 in a row
    meter = Meter(sim)
    for _ in range(5):
        client.call_tool("incident_list", {})
    assert failures, "this seed gives no failure: pick another"
    assert meter.delta()["tool_calls"] == {"incident_list": 5 + len(failures)}
    assert len(clock.delays) == len(failures)


# ---- permanent failures are not retried ------------------------------------------------------


@pytest.mark.parametrize("error_style", ["rest_json", "plain_text"])
@pytest.mark.parametrize("jsonrpc", [False, True], ids=["isError", "jsonrpc-error"])
def test_a_422_is_permanent_names_the_field_and_is_sent_once(
    sim: RunningSimulator, make_client: MakeClient, clock: FakeClock, jsonrpc: bool, error_style: str
) -> None:
    client = make_client()
    warm(client)
    error = {"status": 422, "code": "is_required", "field": "severity_id", "message": "A severity is required"}
    set_faults(sim, tool_errors={"incident_create": error}, jsonrpc_errors=jsonrpc, error_style=error_style)
    meter = Meter(sim)
    with pytest.raises(ToolCallError) as raised:
        client.call_tool("incident_create", {"name": "no severity"})
    failure = raised.value
    code = "is_required" if error_style == "rest_json" else "validation_error"  # words carry no error code
    assert (failure.kind, failure.status, failure.code, failure.field) == (
        FailureKind.PERMANENT,
        422,
        code,
        "severity_id",
    )
    assert meter.delta()["tool_calls"] == {"incident_create": 1} and clock.delays == []


@pytest.mark.parametrize(
    ("tool", "arguments", "field"),
    [
        ("incident_create", {"name": "x", "visibility": "secret"}, "visibility"),  # not in the enum
        ("incident_update", {"summary": "no id"}, "incident_id"),  # required
        ("incident_create", {"name": "x", "colour": "red"}, "colour"),  # not advertised
        ("incident_list", {"page_size": "ten"}, "page_size"),  # wrong type
        ("no_such_tool", {}, None),
    ],
)
def test_arguments_outside_the_advertised_schema_fail_before_any_request(
    sim: RunningSimulator,
    make_client: MakeClient,
    clock: FakeClock,
    tool: str,
    arguments: dict[str, Any],
    field: str | None,
) -> None:
    client = make_client()
    warm(client)
    meter = Meter(sim)
    with pytest.raises(ToolCallError) as raised:
        client.call_tool(tool, arguments, retry_ambiguous=True)
    assert raised.value.kind is FailureKind.PERMANENT and raised.value.field == field
    assert (field or tool) in str(raised.value)
    assert meter.delta()["http_requests"] == 0 and clock.delays == []


# ---- key rotation: exactly one secret re-read, no loop ---------------------------------------


def test_rotated_key_is_reread_once_then_a_second_401_is_unauthorized(
    sim: RunningSimulator, make_client: MakeClient, secrets: SecretReads, clock: FakeClock
) -> None:
    client = make_client()
    warm(client)
    assert secrets.fetches == 1

    secrets.store(f'{{"api_key": "{ROTATED_KEY}"}}')  # the new key is stored first, then the old one dies
    set_faults(sim, rotate_key={"new_key": ROTATED_KEY})
    meter = Meter(sim)
    client.call_tool("incident_list", {})
    assert secrets.fetches == 2  # exactly one re-read, bypassing the 300 s cache
    # the 401, a new connection with the new key (discover + tools/list), the call again
    assert meter.delta()["by_method"] == {"tools/call": 2, "server/discover": 1, "tools/list": 1}
    assert client.connects == 2 and clock.delays == []

    set_faults(sim, rotate_key={"new_key": "inc-live-nobody-stored-this-one"})  # rotated, secret not updated
    meter.start()
    with pytest.raises(ToolCallError) as raised:
        client.call_tool("incident_list", {})
    assert (raised.value.kind, raised.value.status) == (FailureKind.UNAUTHORIZED, 401)
    assert secrets.fetches == 3  # one re-read for this call too, and no more
    # the 401, then one reconnect refused (auto mode: discover 401, then initialize 401), then give up
    assert meter.delta()["by_method"] == {"tools/call": 1, "server/discover": 1, "initialize": 1}
    assert clock.delays == []


def test_a_key_rotated_while_disconnected_is_reread_when_reconnecting(
    sim: RunningSimulator, make_client: MakeClient, secrets: SecretReads, clock: FakeClock
) -> None:
    client = make_client()
    warm(client)
    fault_for(sim, drop_connection_rate=1.0)
    with pytest.raises(ToolCallError):
        client.call_tool("incident_create", {"name": "dropped"})  # the session is gone
    secrets.store(ROTATED_KEY)
    set_faults(sim, rotate_key={"new_key": ROTATED_KEY})
    meter = Meter(sim)
    client.call_tool("incident_list", {})  # reconnecting (to list the schemas) meets the 401 first
    assert secrets.fetches == 2  # the cached key was refused once, then exactly one re-read
    # the reconnect with the cached key (discover 401, initialize 401), with the new key (discover, tools/list)
    assert meter.delta()["by_method"] == {"server/discover": 2, "initialize": 1, "tools/list": 1, "tools/call": 1}
    assert clock.delays == []


# ---- sessions, time limits, malformed answers --------------------------------------------------


def test_an_expired_legacy_session_is_replaced_transparently(
    sim: RunningSimulator, make_client: MakeClient, secrets: SecretReads, clock: FakeClock
) -> None:
    client = make_client("legacy")
    warm(client)
    set_faults(sim, session_expiry=True)  # the open session now answers 404
    meter = Meter(sim)
    client.call_tool("incident_list", {})
    moved = meter.delta()["by_method"]
    # the 404 call, a new handshake, its tools/list, the call; the old session's DELETE may still be on its way
    assert moved.pop("DELETE", 0) <= 1
    assert moved == {
        "tools/call": 2,
        "initialize": 1,
        "notifications/initialized": 1,
        "GET": 1,
        "tools/list": 1,
    }
    assert client.connects == 2 and secrets.fetches == 1 and len(clock.delays) == 1
    meter.start()
    client.call_tool("incident_list", {})
    assert meter.delta()["http_requests"] == 1


def test_the_remaining_invocation_time_bounds_each_call(
    sim: RunningSimulator, make_client: MakeClient, clock: FakeClock
) -> None:
    client = make_client(call_timeout=15.0)
    warm(client)
    set_faults(sim, latency_ms=5000)
    started = time.monotonic()

    def remaining() -> float:  # a Lambda with 3.5 s left when the call starts
        return 3.5 - (time.monotonic() - started)

    meter = Meter(sim)
    with pytest.raises(ToolCallError) as raised:
        client.call_tool("incident_list", {}, retry_ambiguous=True, remaining_seconds=remaining)
    elapsed = time.monotonic() - started
    assert raised.value.kind is FailureKind.AMBIGUOUS
    waited = float(re.search(r"no answer within ([0-9.]+)s", raised.value.message).group(1))  # type: ignore[union-attr]
    assert 1.2 <= waited <= 3.5 - SAFETY_MARGIN_SECONDS  # what was left minus the safety margin, not 15 s
    assert meter.delta()["tool_calls"] == {"incident_list": 1}  # and no retry: no time left for one
    assert clock.delays == []
    assert elapsed < 3.5  # generous; the answer would have taken 5 s, the call timeout is 15 s

    meter.start()
    with pytest.raises(ToolCallError) as raised:
        client.call_tool("incident_list", {}, remaining_seconds=lambda: 2.5)
    assert raised.value.kind is FailureKind.TRANSIENT  # under 1 s left after the margin: not even sent
    assert meter.delta()["http_requests"] == 0


def test_malformed_results_are_ambiguous_and_the_client_carries_on(
    sim: RunningSimulator, make_client: MakeClient, clock: FakeClock
) -> None:
    client = make_client()
    warm(client)
    set_faults(sim, malformed_rate=1.0)  # variants in turn: not JSON, wrong shape, no content
    not_json = client.call_tool("incident_create", {"name": "m1"})  # may be prose: the reader judges it
    assert incident_from_result(not_json) == {}  # names no incident: the courier re-checks (next test)
    wrong_shape = client.call_tool("incident_create", {"name": "m2"})
    assert wrong_shape == {"data": None}  # valid JSON the client cannot judge: the courier checks the shape
    with pytest.raises(ToolCallError) as empty:
        client.call_tool("incident_create", {"name": "m3"})
    assert empty.value.kind is FailureKind.AMBIGUOUS
    assert clock.delays == []  # not repeated: a create without a key
    set_faults(sim, malformed_rate=0)
    meter = Meter(sim)
    client.call_tool("incident_list", {})
    assert meter.delta()["http_requests"] == 1 and client.connects == 1


def test_retry_after_in_an_error_body_may_be_seconds_or_a_time() -> None:
    body = '{"status": 429, "type": "too_many_requests", "errors": [], "rate_limit": {"retry_after": %s}}'
    assert from_error_text("t", body % "7").retry_after == 7.0
    in_a_while = datetime.fromtimestamp(time.time() + 30, UTC).isoformat().replace("+00:00", "Z")
    retry_after = from_error_text("t", body % f'"{in_a_while}"').retry_after
    assert retry_after is not None and 28 <= retry_after <= 30


# ---- the key never shows ---------------------------------------------------------------------


def test_the_api_key_never_appears_in_logs_reprs_or_errors(
    sim: RunningSimulator,
    make_client: MakeClient,
    secrets: SecretReads,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx2", "httpcore", "httpcore2", "mcp", "mcp_types", "alert_courier", "botocore", "uvicorn"):
        caplog.set_level(logging.DEBUG, logger=name)
    source = secrets.source()
    client = make_client(api_key=source)
    errors: list[BaseException] = []

    def attempt(name: str, arguments: dict[str, Any], **kwargs: Any) -> None:
        try:
            client.call_tool(name, arguments, **kwargs)
        except ToolCallError as error:
            errors.append(error)

    attempt("incident_list", {})
    set_faults(sim, tool_errors={"incident_create": {"status": 422, "field": "name"}})
    attempt("incident_create", {"name": "refused"})
    attempt("incident_create", {"name": 7})
    set_faults(sim, tool_errors={}, status_5xx=True)
    attempt("incident_list", {})
    set_faults(sim, status_5xx=0, rotate_key={"new_key": "inc-live-unknown"})
    attempt("incident_list", {})
    with caplog.at_level(logging.WARNING, logger="botocore"):  # the test's own write of the secret, not ours
        secrets.store(ROTATED_KEY)
    set_faults(sim, rotate_key={"new_key": ROTATED_KEY})
    attempt("incident_list", {})
    set_faults(sim, drop_connection_rate=1.0)
    attempt("incident_create", {"name": "dropped"})
    assert len(errors) == 5 and any(e.kind is FailureKind.UNAUTHORIZED for e in errors)  # type: ignore[attr-defined]

    shown: list[str] = [repr(client), repr(source), str(source.get()), repr(source.get())]
    for error in errors:
        chain: BaseException | None = error
        while chain is not None:
            shown += [str(chain), repr(chain), repr(chain.args), repr(vars(chain))]
            chain = chain.__cause__ or chain.__context__
    for record in caplog.records:
        shown += [record.getMessage(), repr(record.args), repr(vars(record))]
    assert caplog.records, "nothing was logged: the capture is not working"
    for key in (API_KEY, ROTATED_KEY):
        leaks = [text for text in shown if key in text]
        assert not leaks, leaks[:3]
    assert any(r.name.startswith("botocore") and r.levelno == logging.DEBUG for r in caplog.records)
    assert any(r.name.startswith("botocore") for r in caplog.records)  # the secret was read with DEBUG on


# ---- the courier: a create that acted but never answered opens one incident --------------------


@pytest.fixture
def table(aws: None) -> Any:
    dynamodb = boto3.resource("dynamodb")
    created = dynamodb.create_table(
        TableName="alert-courier-state",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in ("pk", "sk")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    created.wait_until_exists()
    return created


@pytest.fixture
def without_idempotency_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulator has no switch for it: advertise incident_create without `idempotency_key`, in-process."""
    catalogue = copy.deepcopy(simulator_schemas.load_tool_schemas())
    del catalogue["incident_create"]["inputSchema"]["properties"]["idempotency_key"]
    monkeypatch.setattr(simulator_schemas, "load_tool_schemas", lambda: catalogue)


def courier_for(client: IncidentIoMcp, table: Any) -> Any:
    from alert_courier.aws.dynamodb_stores import ActionLedger, DecisionHistory, GroupStateStore
    from alert_courier.domain.rules import load_rules
    from alert_courier.use_cases.courier import Courier
    from alert_courier.wiring import runner_on

    return Courier(GroupStateStore(table), runner_on(ActionLedger(table), client), DecisionHistory(table), load_rules)


def firing_envelope() -> Any:
    from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus, Severity

    tag = uuid.uuid4().hex[:8]
    alert = Alert(
        source="alertmanager",
        dedup_key=f"disk-full-{tag}",
        group_key=f'{{}}:{{alertname="DiskFull",tag="{tag}"}}',
        status=AlertStatus.FIRING,
        severity=Severity.CRITICAL,
        title="Disk full",
        labels={"alertname": "DiskFull", "instance": "db-1"},
        started_at=datetime.now(UTC),
    )
    return AlertEnvelope(alert=alert, correlation_id=f"test-{tag}")


def stall_first_create(sim: RunningSimulator, then: dict[str, Any] | None = None) -> None:
    """incident_create is performed but its answer never comes (once); then `then` faults, if any."""

    def on_event(event: SimEvent) -> None:
        if event.name == "incident_create" and not event.outcome.startswith("fault"):  # it was performed
            sim.simulator.set_faults({"act_then_timeout_rate": 0, **(then or {})})

    sim.simulator.on_event = on_event
    set_faults(sim, act_then_timeout_rate=1.0, stall_ms=1500)  # the client gives up after 1 s


def test_act_then_timeout_with_an_idempotency_key_repeats_the_create_and_gets_the_same_incident(
    sim: RunningSimulator, make_client: MakeClient, table: Any
) -> None:
    client = make_client()
    assert "idempotency_key" in client.input_schemas()["incident_create"]["properties"]
    courier = courier_for(client, table)
    stall_first_create(sim)
    meter = Meter(sim)
    outcome = courier.handle(firing_envelope())
    assert outcome["actions"] == ["open_incident"]
    assert meter.delta()["tool_calls"] == {"incident_create": 2}  # the same key twice: the client may repeat it
    assert len(incidents(sim)) == 1
    assert outcome["results"][0]["incident_id"] == incidents(sim)[0]["id"]


def test_act_then_timeout_without_an_idempotency_key_is_found_by_the_recheck(
    sim: RunningSimulator, without_idempotency_key: None, make_client: MakeClient, table: Any
) -> None:
    client = make_client()
    assert "idempotency_key" not in client.input_schemas()["incident_create"]["properties"]
    courier = courier_for(client, table)
    stall_first_create(sim)
    meter = Meter(sim)
    outcome = courier.handle(firing_envelope())
    assert meter.delta()["tool_calls"] == {"incident_create": 1, "incident_list": 1}
    assert len(incidents(sim)) == 1 and "idempotency_key" not in incidents(sim)[0]["arguments"]
    assert outcome["results"][0]["found_by_recheck"] is True
    assert outcome["results"][0]["incident_id"] == incidents(sim)[0]["id"]


def test_when_the_recheck_fails_too_the_redelivery_rechecks_before_creating(
    sim: RunningSimulator, without_idempotency_key: None, make_client: MakeClient, table: Any
) -> None:
    client = make_client()
    courier = courier_for(client, table)
    envelope = firing_envelope()
    stall_first_create(sim, then={"status_5xx": True})  # after the create acts, everything answers 503
    meter = Meter(sim)
    with pytest.raises(ToolCallError) as raised:
        courier.handle(envelope)
    assert raised.value.kind is FailureKind.AMBIGUOUS  # still unknown whether it landed: the ledger remembers
    assert meter.delta()["tool_calls"] == {"incident_create": 1, "incident_list": ATTEMPTS}

    set_faults(sim, status_5xx=0)
    meter.start()
    outcome = courier.handle(envelope)  # SQS redelivers the message
    assert meter.delta()["tool_calls"] == {"incident_list": 1}  # re-checked first, found, not created again
    assert outcome["results"][0]["found_by_recheck"] is True
    assert len(incidents(sim)) == 1


def test_a_create_answer_without_an_incident_is_rechecked_not_trusted(
    sim: RunningSimulator, without_idempotency_key: None, make_client: MakeClient, table: Any
) -> None:
    client = make_client()
    courier = courier_for(client, table)
    warm(client)
    sim.simulator.next_malformed_variant()  # skip "not JSON": the next malformed answer is valid JSON, wrong shape
    fault_for(sim, malformed_rate=1.0)
    outcome = courier.handle(firing_envelope())
    assert outcome["results"][0].get("found_by_recheck") is True
    assert outcome["results"][0]["incident_id"] == incidents(sim)[0]["id"]
    assert len(incidents(sim)) == 1


# ---- every answer and error style the server may use ---------------------------------------------

ANSWER_STYLES = ["structured", "json_text", "prose"]


@pytest.mark.parametrize("answer_style", ANSWER_STYLES)
def test_ids_references_and_statuses_are_read_in_every_answer_style(
    sim: RunningSimulator, make_client: MakeClient, answer_style: str
) -> None:
    client = make_client()
    organisation = client.read_resource("config://organisation")
    closed = next(s for s in organisation["incident_statuses"] if s["category"] == "closed")
    set_faults(sim, answer_style=answer_style)

    answer = client.call_tool("incident_create", {"name": f"style {answer_style}"})
    assert ("prose" in answer) == (answer_style == "prose") and ("incident" in answer) != (answer_style == "prose")
    created = incident_from_result(answer)
    stored = incidents(sim)[0]
    assert (created["id"], created["reference"]) == (stored["id"], stored["reference"])
    assert created["incident_status"]["name"] == stored["status"]
    update = {"incident_id": created["id"], "incident_status_id": closed["id"]}
    updated = incident_from_result(client.call_tool("incident_update", update))
    assert (updated["id"], updated["incident_status"]["name"]) == (created["id"], closed["name"])
    shown = incident_from_result(client.call_tool("incident_show", {"id": created["id"]}, retry_ambiguous=True))
    assert (shown["id"], shown["incident_status"]["name"]) == (created["id"], closed["name"])

    path_id = sim.simulator.directory.escalation_path_ids()[0]
    draft_arguments = {"title": "page", "escalation_path_id": path_id, "incident_id": created["id"]}
    draft = client.call_tool("escalation_create", draft_arguments | {"idempotency_key": uuid.uuid4().hex})
    suggestion = suggestion_from_result(draft)
    assert suggestion is not None and suggestion not in (path_id, created["id"])
    execute = {"action": "execute", "suggestion_id": suggestion}
    page = escalation_from_result(client.call_tool("escalation_create", execute))
    stored_page = sim.simulator.state_snapshot()["escalations"][0]
    assert (page["id"], page["status"]) == (stored_page["id"], "triggered")
    acked = escalation_from_result(client.call_tool("escalation_respond", {"id": page["id"]}, retry_ambiguous=True))
    assert (acked["id"], acked["status"]) == (page["id"], "acked")
    assert client.call_tool("incident_list", {})["incidents"][0]["id"] == created["id"]  # lists stay JSON


def test_a_list_answered_in_prose_is_ambiguous_not_empty(make_client: MakeClient) -> None:
    from alert_courier.incident_io.tool_results import result_document

    with pytest.raises(ToolCallError) as raised:
        result_document("incident_list", None, "No incidents match.")
    assert raised.value.kind is FailureKind.AMBIGUOUS


PLAIN_TEXT_FAILURES = [
    # (tool, arguments, injected status, expected kind, expected status, calls sent)
    ("incident_update", {"incident_id": "x", "name": "n"}, 404, FailureKind.PERMANENT, 404, 1),
    ("incident_update", {"incident_id": "x", "name": "n"}, 403, FailureKind.PERMANENT, 403, 1),
    ("incident_update", {"incident_id": "x", "name": "n"}, 409, FailureKind.PERMANENT, 409, 1),
    ("incident_create", {"name": "n"}, 422, FailureKind.PERMANENT, 422, 1),
    ("incident_list", {}, 429, FailureKind.TRANSIENT, 429, ATTEMPTS),  # retried, then given up
    ("incident_create", {"name": "n"}, 500, FailureKind.AMBIGUOUS, 500, 1),  # may have landed: not repeated
    ("incident_list", {}, 500, FailureKind.AMBIGUOUS, 500, ATTEMPTS),  # a read repeats safely
]


@pytest.mark.parametrize("jsonrpc", [False, True], ids=["isError", "jsonrpc-error"])
@pytest.mark.parametrize(
    ("tool", "arguments", "injected", "kind", "status", "sent"),
    PLAIN_TEXT_FAILURES,
    ids=[f"{t}-{s}" for t, _, s, *_ in PLAIN_TEXT_FAILURES],
)
def test_plain_text_errors_are_handled_as_their_words_say(
    sim: RunningSimulator,
    make_client: MakeClient,
    jsonrpc: bool,
    tool: str,
    arguments: dict[str, Any],
    injected: int,
    kind: FailureKind,
    status: int,
    sent: int,
) -> None:
    client = make_client()
    warm(client)
    spec = {"status": injected} | ({"message": "Incident is already closed"} if injected == 409 else {})
    set_faults(sim, tool_errors={tool: spec}, error_style="plain_text", jsonrpc_errors=jsonrpc)
    meter = Meter(sim)
    with pytest.raises(ToolCallError) as raised:
        client.call_tool(tool, arguments, retry_ambiguous=tool.endswith("_list"))
    assert (raised.value.kind, raised.value.status) == (kind, status)
    assert "{" not in raised.value.message  # really words, no JSON body
    assert meter.delta()["tool_calls"] == {tool: sent}


@pytest.mark.parametrize("answer_style", ANSWER_STYLES)
def test_resolving_an_incident_already_closed_by_hand_in_plain_text_and_any_answer_style(
    sim: RunningSimulator, make_client: MakeClient, answer_style: str
) -> None:
    from alert_courier.domain.actions import ResolveIncident
    from alert_courier.domain.group_state import GroupState
    from alert_courier.incident_io.executor import IncidentIoExecutor
    from alert_courier.use_cases.ports import Claim

    client = make_client()
    created = incident_from_result(client.call_tool("incident_create", {"name": "closed by hand"}))
    closed = next(s for s in sim.simulator.organisation_config()["incident_statuses"] if s["category"] == "closed")
    client.call_tool("incident_update", {"incident_id": created["id"], "incident_status_id": closed["id"]})
    refusal = {"status": 409, "message": f"{created['reference']} has already been closed"}
    set_faults(sim, answer_style=answer_style, error_style="plain_text", tool_errors={"incident_update": refusal})
    action = ResolveIncident(group_id="g", reason="resolved", generation=1, incident_id=created["id"], summary="ok")
    result = IncidentIoExecutor(client).execute(
        action, Claim(action_key="k", done=False), GroupState(group_id="g"), [], lambda: 30.0
    )
    assert result == {"incident_id": created["id"], "status": closed["name"], "already_resolved": True}


def test_the_style_switches_are_checked_and_shown(sim: RunningSimulator) -> None:
    for bad in ({"answer_style": "haiku"}, {"error_style": "xml"}):
        assert httpx.post(f"{sim.url}/_sim/faults", json=bad, timeout=10).status_code == 400
    set_faults(sim, answer_style="prose", error_style="plain_text")
    assert httpx.get(f"{sim.url}/_sim/faults", timeout=10).json() == {
        "answer_style": "prose",
        "error_style": "plain_text",
    }
    set_faults(sim, answer_style=None)
    assert sim.simulator.answer_style == "structured" and sim.simulator.error_style == "plain_text"
