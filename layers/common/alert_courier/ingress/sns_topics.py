"""The SNS topics whose HTTPS deliveries ingest accepts (CLOUDWATCH_TOPIC_ARNS): set once by the ingest function
from its settings, read by the CloudWatch source; none until then, so nothing is trusted by default."""

from __future__ import annotations

from collections.abc import Iterable

_trusted: frozenset[str] = frozenset()


def trust(topics: Iterable[str]) -> None:
    global _trusted
    _trusted = frozenset(topics)


def trusted() -> frozenset[str]:
    return _trusted
