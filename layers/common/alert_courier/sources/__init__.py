"""The registry of monitoring sources: adding one is a new module plus one line in SOURCES."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..alert import Alert
from ..credentials import Authenticator, authenticate_shared_secret
from ..handshake import Handshake
from .alertmanager import AlertmanagerNotification, normalise_alertmanager
from .cloudwatch import CloudWatchWebhook, authenticate_cloudwatch, handshake_cloudwatch, normalise_cloudwatch
from .datadog import DatadogWebhook, authenticate_datadog, normalise_datadog
from .generic import GenericEvent, authenticate_generic, normalise_generic
from .grafana import GrafanaNotification, authenticate_grafana, normalise_grafana


@dataclass(frozen=True)
class WebhookSource:
    name: str
    model: type[BaseModel]
    normalise: Callable[[Any], list[Alert]]
    content_types: tuple[str, ...] = ("application/json",)
    authenticate: Authenticator = authenticate_shared_secret
    credentials_in_body: bool = False
    """True: the body is parsed before `authenticate`, which then receives it (e.g. a routing_key)."""
    answers_dedup_key: bool = False
    """True: the accepted answer carries the alert's dedup key, so the sender can follow up on it."""
    handshake: Callable[[Any], Handshake | None] | None = None
    """Called once the body is authenticated and valid: a Handshake is answered instead of accepting alerts."""


SOURCES: dict[str, WebhookSource] = {
    source.name: source
    for source in (
        WebhookSource("alertmanager", AlertmanagerNotification, normalise_alertmanager),
        WebhookSource("grafana", GrafanaNotification, normalise_grafana, authenticate=authenticate_grafana),
        WebhookSource("datadog", DatadogWebhook, normalise_datadog, authenticate=authenticate_datadog),
        WebhookSource(
            "generic",
            GenericEvent,
            normalise_generic,
            authenticate=authenticate_generic,
            credentials_in_body=True,
            answers_dedup_key=True,
        ),
        WebhookSource(
            "cloudwatch",
            CloudWatchWebhook,
            normalise_cloudwatch,
            content_types=("application/json", "text/plain"),  # SNS posts JSON as text/plain
            authenticate=authenticate_cloudwatch,
            credentials_in_body=True,  # the SNS signature is in the body
            handshake=handshake_cloudwatch,
        ),
    )
}
