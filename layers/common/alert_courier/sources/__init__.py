"""The registry of monitoring sources: adding one is a new module plus a loader in SOURCES.

A source's module (its pydantic models, normaliser, verifier) is imported by its first webhook, so a container
pays at cold start only for the sources that actually send to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from alert_courier.domain.alert import Alert
from alert_courier.ingress.credentials import Authenticator, authenticate_shared_secret
from alert_courier.ingress.handshake import Handshake


@dataclass(frozen=True)
class WebhookSource:
    name: str
    model: type[BaseModel]
    normalise: Callable[[Any], Iterable[Alert]]
    """A many-alert source yields them one by one, so that intake keeps its time budget between alerts."""
    content_types: tuple[str, ...] = ("application/json",)
    authenticate: Authenticator = authenticate_shared_secret
    credentials_in_body: bool = False
    """True: the body is parsed before `authenticate`, which then receives it (e.g. a routing_key)."""
    answers_dedup_key: bool = False
    """True: the accepted answer carries the alert's dedup key, so the sender can follow up on it."""
    handshake: Callable[[Any], Handshake | None] | None = None
    """Called once the body is authenticated and valid: a Handshake is answered instead of accepting alerts."""


def _alertmanager() -> WebhookSource:
    from alert_courier.sources.alertmanager import AlertmanagerNotification, normalise_alertmanager

    return WebhookSource("alertmanager", AlertmanagerNotification, normalise_alertmanager)


def _grafana() -> WebhookSource:
    from alert_courier.sources.grafana import GrafanaNotification, authenticate_grafana, normalise_grafana

    return WebhookSource("grafana", GrafanaNotification, normalise_grafana, authenticate=authenticate_grafana)


def _datadog() -> WebhookSource:
    from alert_courier.sources.datadog import DatadogWebhook, authenticate_datadog, normalise_datadog

    return WebhookSource("datadog", DatadogWebhook, normalise_datadog, authenticate=authenticate_datadog)


def _generic() -> WebhookSource:
    from alert_courier.sources.generic import GenericEvent, authenticate_generic, normalise_generic

    return WebhookSource(
        "generic",
        GenericEvent,
        normalise_generic,
        authenticate=authenticate_generic,
        credentials_in_body=True,
        answers_dedup_key=True,
    )


def _cloudwatch() -> WebhookSource:
    from alert_courier.sources.cloudwatch import (
        CloudWatchWebhook,
        authenticate_cloudwatch,
        handshake_cloudwatch,
        normalise_cloudwatch,
    )

    return WebhookSource(
        "cloudwatch",
        CloudWatchWebhook,
        normalise_cloudwatch,
        content_types=("application/json", "text/plain"),  # SNS posts JSON as text/plain
        authenticate=authenticate_cloudwatch,
        credentials_in_body=True,  # the SNS signature is in the body
        handshake=handshake_cloudwatch,
    )


class SourceRegistry(Mapping[str, WebhookSource]):
    """Source name -> WebhookSource, each built (its module imported) on first use."""

    def __init__(self, loaders: Mapping[str, Callable[[], WebhookSource]]) -> None:
        self._loaders = dict(loaders)
        self._loaded: dict[str, WebhookSource] = {}

    def __getitem__(self, name: str) -> WebhookSource:
        source = self._loaded.get(name)
        if source is None:
            source = self._loaded[name] = self._loaders[name]()  # KeyError: unknown source
        return source

    def __contains__(self, name: object) -> bool:
        return name in self._loaders

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaders)

    def __len__(self) -> int:
        return len(self._loaders)


SOURCES: Mapping[str, WebhookSource] = SourceRegistry(
    {
        "alertmanager": _alertmanager,
        "grafana": _grafana,
        "datadog": _datadog,
        "generic": _generic,
        "cloudwatch": _cloudwatch,
    }
)
