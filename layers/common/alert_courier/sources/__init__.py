"""The registry of monitoring sources: adding one is a new module plus one line in SOURCES."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..alert import Alert
from .alertmanager import AlertmanagerNotification, normalise_alertmanager


@dataclass(frozen=True)
class WebhookSource:
    name: str
    model: type[BaseModel]
    normalise: Callable[[Any], list[Alert]]
    content_types: tuple[str, ...] = ("application/json",)


SOURCES: dict[str, WebhookSource] = {
    source.name: source for source in (WebhookSource("alertmanager", AlertmanagerNotification, normalise_alertmanager),)
}
