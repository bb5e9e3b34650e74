"""Renders the rules' text templates (Jinja2, sandboxed) over an alert; a missing label renders empty."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment

from alert_courier.domain.alert import Alert

MAX_RENDERED_CHARS = 10_000


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=ChainableUndefined, autoescape=False)


@lru_cache(maxsize=512)
def _compiled(template: str) -> Any:
    return _environment().from_string(template)


def context_for(alert: Alert) -> dict[str, Any]:
    return {
        "alert": alert,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "links": alert.links,
        "source": alert.source,
        "severity": alert.severity.value,
        "status": alert.status.value,
    }


TEMPLATE_NAMES = frozenset({"alert", "labels", "annotations", "links", "source", "severity", "status"})


def template_names(template: str) -> set[str]:
    """The top-level names a template uses (a typo such as `lables` would render empty); none if it is broken."""
    try:
        return set(meta.find_undeclared_variables(_environment().parse(template)))
    except TemplateError:
        return set()


def render(template: str, alert: Alert) -> str:
    """Never raises: a broken template renders as its own text, so an alert is never lost to a typo."""
    try:
        return str(_compiled(template).render(context_for(alert))).strip()[:MAX_RENDERED_CHARS]
    except TemplateError:
        return template


def check_template(template: str) -> str | None:
    """The syntax error of a template, if any (used when the rules are checked)."""
    try:
        _compiled(template)
    except TemplateError as error:
        return str(error)
    return None
