"""`alert-courier history --since`: an ISO 8601 time or a duration back from now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alert_courier.operator_tools.cli import _since
from alert_courier.operator_tools.cli_errors import CliError


def test_since_reads_durations_and_times_as_sortable_utc() -> None:
    assert _since("2026-11-25T10:00:00+01:00") == "2026-11-25T09:00:00+00:00"
    assert _since("2026-11-25T10:00") == "2026-11-25T10:00:00+00:00"
    two_hours_ago = datetime.fromisoformat(_since("2h"))
    assert abs(datetime.now(UTC) - timedelta(hours=2) - two_hours_ago) < timedelta(minutes=1)


def test_a_since_that_is_neither_is_one_clear_error() -> None:
    with pytest.raises(CliError, match="ISO 8601 time or a duration"):
        _since("yesterday")
