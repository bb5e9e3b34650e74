"""Settings come from the environment: names in upper case, values coerced and checked, unknown ones ignored."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alert_courier.settings import DispatchSettings, IngestSettings, SchedulerSettings

DISPATCH_ENV = {
    "STATE_TABLE_NAME": "state",
    "INCIDENT_IO_API_KEY_SECRET": "alert-courier/key",
    "DEAD_LETTER_QUEUE_URL": "https://sqs.example/dlq.fifo",
}


def test_values_are_read_by_upper_case_name_and_coerced() -> None:
    settings = DispatchSettings.from_environment(
        DISPATCH_ENV | {"MCP_CALL_TIMEOUT_SECONDS": "7.5", "ACTION_MEMORY_DAYS": "3", "PATH": "/usr/bin"}
    )
    assert settings.mcp_call_timeout_seconds == 7.5
    assert settings.action_memory_days == 3
    assert settings.mcp_server_url == "https://mcp.incident.io/mcp"  # default kept


def test_a_missing_variable_fails_naming_it() -> None:
    with pytest.raises(ValidationError) as caught:
        DispatchSettings.from_environment({"STATE_TABLE_NAME": "state"})
    missing = {error["loc"][0] for error in caught.value.errors()}
    assert missing == {"incident_io_api_key_secret", "dead_letter_queue_url"}


def test_a_malformed_value_is_refused() -> None:
    with pytest.raises(ValidationError, match="max_body_bytes"):
        IngestSettings.from_environment({"ALERT_QUEUE_URL": "q", "MAX_BODY_BYTES": "0"})
    with pytest.raises(ValidationError, match="mcp_call_timeout_seconds"):
        DispatchSettings.from_environment(DISPATCH_ENV | {"MCP_CALL_TIMEOUT_SECONDS": "soon"})


def test_the_process_environment_is_the_default_source(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in DISPATCH_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MAX_TIMERS_PER_RUN", "12")
    assert SchedulerSettings.from_environment().max_timers_per_run == 12
