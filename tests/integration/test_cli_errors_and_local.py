"""The `alert-courier` command: one line and a non-zero exit for operational errors, `--local` follows LOCAL_*
and refuses what is not a local stack, `--version`, and `--json` on every command with output."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from alert_courier.operator_tools import cli
from tests.conftest import EVENTS, REPO_ROOT

FIRING = str(EVENTS / "alertmanager" / "firing.json")


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The command in a fresh interpreter, as an operator runs it (no LOCAL_* or AWS settings but `env`)."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("LOCAL_", "AWS_"))}
    return subprocess.run(
        [sys.executable, "-m", "alert_courier.operator_tools.cli", *args],
        cwd=REPO_ROOT,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line_failure(completed: subprocess.CompletedProcess[str], *expected: str) -> str:
    assert completed.returncode != 0, completed.stdout
    assert "Traceback" not in completed.stderr, completed.stderr
    [line] = completed.stderr.strip().splitlines()
    for text in expected:
        assert text in line
    return line


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def not_a_local_stack() -> Iterator[int]:
    """Some other HTTP service on a port: answers every request with 404."""

    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(404)

        do_POST = do_GET

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()


# --------------------------------------------------------------------------- one line, non-zero exit


def test_version_comes_from_the_package_metadata() -> None:
    completed = run_cli("--version")
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert completed.returncode == 0 and completed.stdout.strip() == f"alert-courier {version}"
    assert cli.package_version() == version


@pytest.mark.parametrize(
    "args",
    [
        ("explain", "--source", "alertmanager", FIRING, "--rules", "no-such-rules.yaml"),
        ("check-config", "no-such-rules.yaml"),
    ],
)
def test_a_missing_rules_file_is_one_line(args: tuple[str, ...]) -> None:
    assert_one_line_failure(run_cli(*args), "no-such-rules.yaml", "No such file")


def test_a_missing_payload_or_organisation_file_is_one_line() -> None:
    assert_one_line_failure(run_cli("explain", "--source", "alertmanager", "no-such.json"), "no-such.json")
    assert_one_line_failure(run_cli("explain", "--source", "alertmanager", FIRING, "--org", "no-org.json"), "no-org")


def test_stack_without_a_region_is_one_line() -> None:
    completed = run_cli("dlq", "list", "--stack", "alert-courier", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="y")
    assert_one_line_failure(completed, "no AWS region", "AWS_REGION")


def test_local_with_the_stack_down_names_the_variable_that_moves_it() -> None:
    port = free_port()
    for args in (("dlq", "list"), ("history", "some-key"), ("doctor",), ("status",)):
        completed = run_cli(*args, "--local", LOCAL_AWS_PORT=str(port))
        assert_one_line_failure(completed, f"no local stack answers at http://127.0.0.1:{port}", "LOCAL_AWS_PORT")


def test_local_refuses_to_act_on_what_is_not_a_local_stack(not_a_local_stack: int) -> None:
    completed = run_cli("dlq", "replay", "--all", "--local", LOCAL_AWS_PORT=str(not_a_local_stack))
    assert_one_line_failure(completed, "is not an alert-courier local stack", "refusing to act", "LOCAL_AWS_PORT")
    completed = run_cli("dlq", "list", "--local", LOCAL_AWS_ENDPOINT=f"http://127.0.0.1:{not_a_local_stack}")
    assert_one_line_failure(completed, "is not an alert-courier local stack", "LOCAL_AWS_ENDPOINT")


def test_a_bad_local_setting_is_one_line() -> None:
    completed = run_cli("dlq", "list", "--local", LOCAL_AWS_PORT="abc")
    assert_one_line_failure(completed, "LOCAL_AWS_PORT='abc'", "must be an integer 0–65535")


def test_a_closed_pipe_is_one_line_not_a_traceback() -> None:
    """`alert-courier explain … | head`: the reader goes away before the command writes."""
    process = subprocess.Popen(
        [sys.executable, "-m", "alert_courier.operator_tools.cli", "explain", "--source", "alertmanager", FIRING],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=60) != 0
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
    [line] = stderr.strip().splitlines()
    assert "broken pipe" in line


# --------------------------------------------------------------------------- --local against the stack


def test_local_follows_the_local_port_settings(local_settings_of: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["dlq", "list", "--local", "--json"]) == 0
    assert isinstance(json.loads(capsys.readouterr().out), list)
    assert cli.main(["dlq", "replay", "no-such-message", "--local", "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == {"replayed": [], "not_found": ["no-such-message"]}
    assert cli.main(["history", "no-such-key", "--local", "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == []


def test_doctor_local_finds_the_simulator_by_its_setting_and_prints_json(
    local_settings_of: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["doctor", "--local", "--json"]) == 0  # no --mcp-url: LOCAL_SIMULATOR_PORT says where
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["failures"] == 0
    assert any("is readable" in check["text"] for check in report["checks"])
    assert all(check["ok"] for check in report["checks"])


def test_doctor_local_refuses_a_simulator_port_where_no_simulator_answers(
    local_settings_of: Any, not_a_local_stack: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOCAL_SIMULATOR_PORT", str(not_a_local_stack))
    assert cli.main(["doctor", "--local"]) == 1
    err = capsys.readouterr().err
    assert "not the local stack's incident.io simulator" in err and "LOCAL_SIMULATOR_PORT" in err


def test_check_config_prints_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["check-config", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["checks"][0]["text"].endswith("rules parse")
    broken = tmp_path / "rules.yaml"
    broken.write_text("rules:\n  - name: x\n    actions:\n      - open_incident: {name: '{{ labels.x '}\n")
    assert cli.main(["check-config", str(broken), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and any(not check["ok"] and "template" in check["text"] for check in report["checks"])


@pytest.mark.parametrize(
    "args",
    [
        ["dlq", "list"],
        ["dlq", "show", "ID"],
        ["dlq", "replay", "ID"],
        ["history", "KEY"],
        ["explain", "--source", "alertmanager", "F"],
        ["check-config"],
        ["doctor"],
        ["status"],
        ["tail"],
        ["ack", "GROUP"],
        ["resolve", "GROUP"],
        ["forget", "GROUP"],
    ],
)
def test_every_command_with_output_accepts_json(args: list[str]) -> None:
    assert cli.build_parser().parse_args([*args, "--json"]).json is True
