"""Default severity mapping from what senders say to the four normalised severities."""

from __future__ import annotations

from alert_courier.domain.alert import Severity

_BY_WORD: dict[str, Severity] = {
    "critical": Severity.CRITICAL,
    "crit": Severity.CRITICAL,
    "fatal": Severity.CRITICAL,
    "emergency": Severity.CRITICAL,
    "page": Severity.CRITICAL,
    "p1": Severity.CRITICAL,
    "high": Severity.ERROR,
    "error": Severity.ERROR,
    "err": Severity.ERROR,
    "major": Severity.ERROR,
    "p2": Severity.ERROR,
    "warning": Severity.WARNING,
    "warn": Severity.WARNING,
    "medium": Severity.WARNING,
    "minor": Severity.WARNING,
    "p3": Severity.WARNING,
    "info": Severity.INFO,
    "informational": Severity.INFO,
    "low": Severity.INFO,
    "none": Severity.INFO,
    "p4": Severity.INFO,
    "p5": Severity.INFO,
}


def severity_from_word(word: str | None, default: Severity = Severity.WARNING) -> Severity:
    """Map a sender's severity word (case-insensitive) to ours; unknown words get the default."""
    if not word:
        return default
    return _BY_WORD.get(word.strip().lower(), default)
