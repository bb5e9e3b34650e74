"""Every secret read through our providers stays out of logs, not only the incident.io API key: botocore logs
response bodies (GetSecretValue's SecretString included) at DEBUG, and an operator may turn DEBUG on."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import boto3
import pytest

from alert_courier.aws.alert_source_tokens import AlertSourceTokens
from alert_courier.aws.webhook_secrets import WebhookSecrets

WEBHOOK_TOKEN = "whk-Zp4Lq8Ws2Xe6-MUST-NOT-LEAK"
SOURCE_TOKEN = "src-Hy7Nc3Vb9Rt1-MUST-NOT-LEAK"


@pytest.fixture
def stored_secrets(in_process_aws: None) -> Iterator[None]:
    client = boto3.client("secretsmanager")
    client.create_secret(Name="webhooks/alertmanager", SecretString=json.dumps({"current": WEBHOOK_TOKEN}))
    client.create_secret(Name="alert-sources/src-1", SecretString=json.dumps({"current": SOURCE_TOKEN}))
    yield


def test_webhook_credentials_and_alert_source_tokens_never_reach_a_log_line(
    stored_secrets: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("botocore", "botocore.parsers", "boto3"):
        caplog.set_level(logging.DEBUG, logger=name)
    assert WebhookSecrets("webhooks/").valid_values("alertmanager") == (WEBHOOK_TOKEN,)
    assert AlertSourceTokens("alert-sources/").token("src-1") == SOURCE_TOKEN
    assert any(record.name.startswith("botocore") for record in caplog.records)  # DEBUG really was on
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "GetSecretValue" in logged or "secretsmanager" in logged.lower()
    assert WEBHOOK_TOKEN not in logged and SOURCE_TOKEN not in logged
