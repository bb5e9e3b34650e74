"""Load, decide, act, save — again from the load when someone else saved first (optimistic locking)."""

from __future__ import annotations

from collections.abc import Callable

from alert_courier.domain.errors import StaleState

SAVE_ATTEMPTS = 5


def until_saved[T](key: str, attempt: Callable[[], T]) -> T:
    """Runs `attempt` (which loads, decides, acts and saves) until its save is not stale, at most SAVE_ATTEMPTS
    times. Actions done by a losing attempt are remembered by the ledger, so a later attempt does not redo them."""
    for _ in range(SAVE_ATTEMPTS):
        try:
            return attempt()
        except StaleState:
            continue
    raise StaleState(key)
