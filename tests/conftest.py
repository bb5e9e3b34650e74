"""Shared test helpers: paths to the repo's sample events."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
EVENTS = REPO_ROOT / "events"


def load_event(relative: str) -> Any:
    return json.loads((EVENTS / relative).read_text())


@pytest.fixture
def alertmanager_firing() -> dict[str, Any]:
    return load_event("alertmanager/firing.json")


@pytest.fixture
def alertmanager_resolved() -> dict[str, Any]:
    return load_event("alertmanager/resolved.json")


def wait_until(predicate: Any, *, timeout: float = 20.0, interval: float = 0.1, what: str = "condition") -> Any:
    """Polls until predicate() is truthy; fails the test with `what` if it never becomes so."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def local_stack() -> Any:
    """The whole local stack on ephemeral ports, once per test session (handlers read env at import)."""
    from alert_courier_local.stack import LocalStack, StackConfig

    stack = LocalStack(
        StackConfig(
            front_door_port=0,
            simulator_port=0,
            aws_port=0,
            quiet=True,
            redelivery_seconds=1,
            dispatch_workers=2,
            isolated_aws=True,
        ),
        # short enough that the fault suite's "act, then time out" stalls are seen as timeouts
        # no reconcile pass in the background: its incident_show calls would change the tool-call counts other
        # tests compare (the reconcile tests run the pass themselves)
        env_overrides={"MCP_CALL_TIMEOUT_SECONDS": "2", "RECONCILE_EVERY_MINUTES": "0"},
    ).start()
    yield stack
    stack.stop()


@pytest.fixture
def local_settings_of(local_stack: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """LOCAL_* pointing at the test session's stack (ephemeral ports), as a user's overrides would."""
    from urllib.parse import urlsplit

    for name in [name for name in os.environ if name.startswith("LOCAL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LOCAL_AWS_PORT", str(urlsplit(local_stack.aws.endpoint_url).port))
    monkeypatch.setenv("LOCAL_SIMULATOR_PORT", str(local_stack.simulator.port))
    monkeypatch.setenv("LOCAL_FRONT_DOOR_PORT", str(local_stack.front_door.port))
    return local_stack


@pytest.fixture
def in_process_aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    """moto in this process with test credentials (not the session stack's moto server, whose endpoint the
    stack may have put in AWS_ENDPOINT_URL). moto is imported here, so tests that do not use it never load it."""
    from moto import mock_aws

    for name, value in {
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def pk_sk_table(in_process_aws: None) -> Any:
    """A fresh table shaped like the state table (pk, sk) in the in-process moto, its own name per test."""
    import uuid

    import boto3

    return boto3.resource("dynamodb").create_table(
        TableName=f"state-{uuid.uuid4().hex[:8]}",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture(scope="session")
def own_rules_stack(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A second local stack, in a process of its own, running tests/own_rules_stack.py's rules (flap control, a
    storm rule) instead of the shipped ones; started only by the tests that ask for it."""
    from tests.own_rules_stack import own_rules_stack as started

    with started(tmp_path_factory.mktemp("own-rules") / "rules.yaml") as stack:
        yield stack
