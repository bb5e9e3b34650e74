"""Rotating a webhook secret (Secrets Manager in moto): a credential that matches no cached value re-reads the secret
once before the 401, so a sender moved to the new value is accepted on its first request; wrong credentials cause at
most one extra read per source and interval, so they cannot hammer Secrets Manager."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from alert_courier.aws.webhook_secrets import REREAD_INTERVAL_SECONDS, WebhookSecrets
from alert_courier.ingress.heartbeat_pings import read_ping
from alert_courier.ingress.intake import read_webhook
from alert_courier.ingress.rejection import WebhookRejected
from alert_courier.ingress.webhook import WebhookRequest
from tests.conftest import load_event

OLD, NEW = "old-token-4b1d", "new-token-9e2c"
BODY = json.dumps(load_event("alertmanager/firing.json")).encode()


class Ticks:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


class Store:
    """The secrets in moto, and how often they were read."""

    def __init__(self) -> None:
        self.client = boto3.client("secretsmanager")
        self.reads = 0
        self.client.meta.events.register("before-call.secrets-manager.GetSecretValue", self._count)
        self.clock = Ticks()
        for source in ("alertmanager", "heartbeat"):
            self.client.create_secret(Name=f"webhooks/{source}", SecretString=json.dumps({"current": OLD}))
        self.secrets = WebhookSecrets(
            "webhooks/", parameters.SecretsProvider(boto3_client=self.client), clock=self.clock
        )

    def _count(self, **_: Any) -> None:
        self.reads += 1

    def rotate(self, source: str) -> None:
        value = json.dumps({"current": NEW, "previous": OLD})
        self.client.put_secret_value(SecretId=f"webhooks/{source}", SecretString=value)


@pytest.fixture
def store(in_process_aws: None) -> Iterator[Store]:
    yield Store()


def webhook(store: Store, token: str) -> int:
    request = WebhookRequest(
        source="alertmanager",
        headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
        body=BODY,
        correlation_id="c",
    )
    try:
        read_webhook(request, store.secrets.valid_values, 1_000_000, reread=store.secrets.reread)
    except WebhookRejected as refusal:
        return refusal.status
    return 202


def ping(store: Store, token: str) -> int:
    request = WebhookRequest(
        source="heartbeat", headers={"authorization": f"Bearer {token}"}, body=b"", correlation_id="c"
    )
    try:
        read_ping(request, "job", None, store.secrets.valid_values, known=lambda: ["job"], reread=store.secrets.reread)
    except WebhookRejected as refusal:
        return refusal.status
    return 202


def test_a_sender_moved_to_the_rotated_secret_is_accepted_on_its_first_request(store: Store) -> None:
    assert webhook(store, OLD) == 202 and store.reads == 1  # cached from now on (5 minutes)
    store.rotate("alertmanager")
    assert webhook(store, NEW) == 202  # not a 401 until the cache expires
    assert store.reads == 2
    assert webhook(store, NEW) == 202 and webhook(store, OLD) == 202 and store.reads == 2  # both live, cached


def test_heartbeat_pings_see_the_rotated_secret_too(store: Store) -> None:
    assert ping(store, OLD) == 202
    store.rotate("heartbeat")
    assert ping(store, NEW) == 202


def test_a_flood_of_wrong_credentials_reads_the_secret_at_most_once_per_interval(store: Store) -> None:
    assert webhook(store, OLD) == 202 and store.reads == 1
    assert [webhook(store, "guess") for _ in range(50)] == [401] * 50
    assert store.reads == 2  # one re-read for the whole flood
    store.clock.now += REREAD_INTERVAL_SECONDS - 1
    assert [webhook(store, "guess") for _ in range(50)] == [401] * 50 and store.reads == 2
    store.clock.now += 1
    assert [webhook(store, "guess") for _ in range(50)] == [401] * 50 and store.reads == 3
    assert [ping(store, "guess") for _ in range(20)] == [401] * 20
    assert store.reads == 5  # the heartbeat secret: its first read and one re-read (each source has its own)
    assert webhook(store, OLD) == 202 and store.reads == 5  # a right credential is never a re-read
