"""`make run`'s start-up failures are one line on stderr naming the LOCAL_* variable, and a non-zero exit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from alert_courier.operator_tools.local_settings import LocalEndpoints, LocalSettingError
from tests.conftest import REPO_ROOT

# Never the published 3000–3002: another developer may run a stack there.
SPARE_PORTS = {"LOCAL_FRONT_DOOR_PORT": "3190", "LOCAL_SIMULATOR_PORT": "3191", "LOCAL_AWS_PORT": "3192"}


def start_stack(**env: str) -> subprocess.CompletedProcess[str]:
    """`python -m alert_courier_local`, as `make run` starts it."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("LOCAL_")}
    return subprocess.run(
        [sys.executable, "-m", "alert_courier_local"],
        cwd=REPO_ROOT,
        env=clean | SPARE_PORTS | {"LOCAL_SCHEDULE_SECONDS": "0"} | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def start_stack_in_process(monkeypatch: pytest.MonkeyPatch, **env: str) -> subprocess.CompletedProcess[str]:
    """The same entry point in this process (a fresh interpreter per case would double `make unit`'s time);
    safe because every case here fails before anything starts."""
    import contextlib
    import io

    from alert_courier_local.stack import main

    for name in [name for name in os.environ if name.startswith("LOCAL_")]:
        monkeypatch.delenv(name)
    for name, value in (SPARE_PORTS | env).items():
        monkeypatch.setenv(name, value)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main()
    return subprocess.CompletedProcess(["main"], code, out.getvalue(), err.getvalue())


def assert_one_line_failure(completed: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert completed.returncode != 0
    assert "Traceback" not in completed.stderr
    [line] = completed.stderr.strip().splitlines()
    for text in expected:
        assert text in line
    assert "is up" not in completed.stdout


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_make_run_with_a_port_in_use_or_a_bad_port_says_so_in_one_line(busy_port: int) -> None:
    completed = start_stack(LOCAL_AWS_PORT=str(busy_port))
    assert_one_line_failure(completed, f"port {busy_port}", "already in use", "set LOCAL_AWS_PORT")
    assert_one_line_failure(start_stack(LOCAL_FRONT_DOOR_PORT="abc"), "LOCAL_FRONT_DOOR_PORT='abc'", "0–65535")


@pytest.mark.parametrize("variable", ["LOCAL_FRONT_DOOR_PORT", "LOCAL_SIMULATOR_PORT", "LOCAL_AWS_PORT"])
def test_a_port_in_use_names_the_port_and_the_variable_that_moves_it(
    variable: str, busy_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    completed = start_stack_in_process(monkeypatch, **{variable: str(busy_port)})
    assert_one_line_failure(completed, f"port {busy_port}", "already in use", variable)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("LOCAL_FRONT_DOOR_PORT", "abc", "must be an integer 0–65535"),
        ("LOCAL_SIMULATOR_PORT", "70000", "must be an integer 0–65535"),
        ("LOCAL_AWS_PORT", "-1", "must be an integer 0–65535"),
        ("LOCAL_DISPATCH_WORKERS", "two", "must be an integer ≥ 1"),
        ("LOCAL_DISPATCH_WORKERS", "0", "must be an integer ≥ 1"),
        ("LOCAL_REDELIVERY_SECONDS", "1.5", "must be an integer ≥ 0"),
        ("LOCAL_SCHEDULE_SECONDS", "often", "must be a number ≥ 0"),
        ("LOCAL_HOST", "no-such-host.invalid", "not an address this machine can listen on"),
    ],
)
def test_a_bad_setting_names_the_variable_and_what_it_must_be(
    variable: str, value: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_one_line_failure(start_stack_in_process(monkeypatch, **{variable: value}), variable, expected)


def test_two_services_on_one_port_is_refused_before_anything_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    completed = start_stack_in_process(monkeypatch, LOCAL_FRONT_DOOR_PORT="3193", LOCAL_SIMULATOR_PORT="3193")
    assert_one_line_failure(completed, "LOCAL_FRONT_DOOR_PORT and LOCAL_SIMULATOR_PORT are both 3193")


def test_the_cli_and_the_stack_read_the_same_settings() -> None:
    from alert_courier_local.stack import StackConfig

    environ = {"LOCAL_HOST": "0.0.0.0", "LOCAL_FRONT_DOOR_PORT": "3180", "LOCAL_AWS_PORT": "3182"}
    endpoints = LocalEndpoints.from_environ(environ)
    assert (endpoints.front_door_port, endpoints.simulator_port, endpoints.aws_port) == (3180, 3001, 3182)
    assert endpoints.aws_endpoint == "http://127.0.0.1:3182"  # a wildcard bind is reached on loopback
    assert LocalEndpoints.from_environ({"LOCAL_AWS_ENDPOINT": "http://moto:5000/"}).aws_endpoint == "http://moto:5000"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environ.items():
            patch.setenv(name, value)
        config = StackConfig()
        assert (config.host, config.front_door_port, config.aws_port) == ("0.0.0.0", 3180, 3182)
        patch.setenv("LOCAL_SIMULATOR_PORT", "abc")
        with pytest.raises(LocalSettingError, match="LOCAL_SIMULATOR_PORT='abc'"):
            LocalEndpoints.from_environ()
        with pytest.raises(LocalSettingError, match="LOCAL_SIMULATOR_PORT='abc'"):
            StackConfig()


def test_published_defaults_are_unchanged() -> None:
    endpoints = LocalEndpoints.from_environ({})
    assert (endpoints.front_door_url, endpoints.simulator_url, endpoints.aws_endpoint) == (
        "http://127.0.0.1:3000",
        "http://127.0.0.1:3001",
        "http://127.0.0.1:3002",
    )


def test_moto_losing_its_port_after_the_check_is_an_error_not_a_hang(busy_port: int) -> None:
    from alert_courier_local.aws import start_moto
    from alert_courier_local.startup import StackStartError

    with pytest.raises(StackStartError, match=f"moto \\(AWS\\) did not start on 127.0.0.1:{busy_port}.*LOCAL_AWS_PORT"):
        start_moto("127.0.0.1", busy_port)
