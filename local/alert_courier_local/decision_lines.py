"""The local stack's console lines for dispatch decisions that call nothing (suppressed, joined, a partial
resolve): the simulator prints a line per tool call, so without these an alert that changed nothing is invisible.

They come from the courier's INFO `decision` record on its own logger (`use_cases.courier.DECISIONS_LOGGER`).
Locally that logger is set to INFO and handled here; every record still reaches the functions' JSON handlers
when LOCAL_LOG_LEVEL lets it through, exactly as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from alert_courier.use_cases.courier import DECISIONS_LOGGER

MAX_REASONS_LENGTH = 220


def decision_line(record: logging.LogRecord) -> str | None:
    """`dispatch    alertmanager/a83c… firing (rule critical) no call: incident INC-1 is already open; …`, for a
    decision with no action; None for one that acted (its tool calls are printed by the simulator)."""
    if record.getMessage() != "decision" or getattr(record, "actions", None) or getattr(record, "error", None):
        return None
    reasons = [str(reason) for reason in getattr(record, "reasons", [])]
    told = [reason for reason in reasons if not reason.startswith("rule ")] or reasons
    text = "; ".join(told)
    if len(text) > MAX_REASONS_LENGTH:
        text = text[: MAX_REASONS_LENGTH - 1] + "…"
    rules = ", ".join(str(rule) for rule in getattr(record, "rules", []))
    source, key, status = (getattr(record, name, "?") for name in ("source", "dedup_key", "status"))
    return f"dispatch    {source}/{key} {status}{f' (rule {rules})' if rules else ''} no call: {text}"


class DecisionLines(logging.Handler):
    """Prints `decision_line`s and hands every record on to the parent logger's (Powertools) handlers."""

    def __init__(self, log: Callable[[str], None]) -> None:
        super().__init__(logging.INFO)
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = decision_line(record)
            if line is not None:
                self._log(line)
        except Exception:  # a console line must never fail a dispatch
            self.handleError(record)
        parent = logging.getLogger(DECISIONS_LOGGER.rpartition(".")[0])
        if record.levelno >= parent.getEffectiveLevel():
            parent.handle(record)


def install_decision_lines(log: Callable[[str], None]) -> Callable[[], None]:
    """Turns the lines on; returns what turns them off again (the logger as it was)."""
    logger = logging.getLogger(DECISIONS_LOGGER)
    handler = DecisionLines(log)
    before = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # the handler forwards to the parent itself, at the parent's level

    def uninstall() -> None:
        logger.removeHandler(handler)
        logger.setLevel(before[0])
        logger.propagate = before[1]

    return uninstall
