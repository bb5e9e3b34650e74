"""The README's "Try it locally" sample, run as the README writes it, against the session's local stack.

The commands (method, port, path, headers, body file), the answer they document and the lines the stack is said to
print are read from README.md itself, so changing the README without the behaviour, or the behaviour without the
README, fails here. Two liberties, both because the stack is shared by the whole test session: the ports are the
session's (the README's 3000/3001 are mapped to them), and the sample bodies get their own group key and
fingerprints, so that earlier tests' use of the sample group cannot make this run's alerts stale.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from alert_courier.operator_tools.local_settings import DEFAULT_FRONT_DOOR_PORT, DEFAULT_SIMULATOR_PORT
from tests.conftest import EVENTS, REPO_ROOT, wait_until
from tests.integration.test_pipeline import incidents_for, resolved_version, unique_notification

README = REPO_ROOT / "README.md"


def try_it_locally() -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"^## Try it locally\n(.*?)^## ", text, re.S | re.M)
    assert found, "README.md has no '## Try it locally' section"
    return found.group(1)


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    return re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)


@dataclass
class Command:
    argv: list[str]
    comment: str = ""  # what the README says on the command's line
    expected: list[str] = field(default_factory=list)  # the comment lines after it (a documented answer)


def sample_commands() -> list[Command]:
    """The first sh block of the section that curls the sample: its commands, comments and documented answers."""
    blocks = [body for lang, body in fenced_blocks(try_it_locally()) if lang == "sh" and "firing.json" in body]
    assert blocks, "README 'Try it locally' has no sh block posting events/alertmanager/firing.json"
    commands: list[Command] = []
    logical = re.sub(r"\\\n\s*", " ", blocks[0])
    for line in logical.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            assert commands, f"README sample: a comment before any command: {line}"
            commands[-1].expected.append(line.lstrip("# ").strip())
            continue
        command, _, comment = line.partition(" # ")
        commands.append(Command(shlex.split(command), comment.strip()))
    return commands


@dataclass
class Request:
    method: str
    port: int
    path: str
    headers: dict[str, str]
    data_file: str | None


def as_request(argv: list[str]) -> Request:
    """The curl options the sample uses: -s, -X, -H, --data @FILE; anything else is a new option to support."""
    assert argv[0] == "curl", argv
    method, headers, data_file, url = "GET", {}, None, None
    words = iter(argv[1:])
    for word in words:
        if word == "-s":
            continue
        if word == "-X":
            method = next(words)
        elif word == "-H":
            name, _, value = next(words).partition(":")
            headers[name.strip()] = value.strip()
        elif word in ("--data", "-d", "--data-binary"):
            value = next(words)
            assert value.startswith("@"), f"README sample posts an inline body; this test reads files: {argv}"
            data_file = value[1:]
            method = "POST" if method == "GET" else method
        else:
            assert not word.startswith("-"), f"README sample uses curl option {word}; teach this test what it means"
            url = word
    assert url, argv
    parts = urlsplit(url if "://" in url else f"http://{url}")
    return Request(method, int(parts.port or 80), parts.path, headers, data_file)


def matches_documented_answer(documented: str, answer: dict[str, Any]) -> None:
    """`{"status":"accepted","accepted":2,...,"correlation_id":"..."}`: the same keys; "..." is any non-empty text."""
    expected = json.loads(documented)
    assert set(answer) == set(expected), f"README documents keys {sorted(expected)}, the stack answers {answer}"
    for key, value in expected.items():
        if value == "...":
            assert isinstance(answer[key], str) and answer[key], (key, answer)
        else:
            assert answer[key] == value, f"README documents {key}={value!r}, the stack answers {answer[key]!r}"


def printed_line_pattern(documented: str) -> re.Pattern[str]:
    """A README line of the stack's output as a pattern: a quoted value ending in `...` stands for any value
    (generated ids, keys), another `...` for any text, and INC-1 for any reference (the session has others)."""
    pattern = ""
    for piece in re.split(r'("[^"]*\.\.\."|\.\.\.|INC-\d+)', documented):
        if piece.startswith('"') and piece.endswith('..."'):
            pattern += r'"[^"]*"'
        elif piece == "...":
            pattern += ".*?"
        elif re.fullmatch(r"INC-\d+", piece or "x"):
            pattern += r"INC-\d+"
        else:
            pattern += re.escape(piece)
    return re.compile(pattern)


def documented_stack_lines() -> list[str]:
    section = try_it_locally()
    after = section.split("The stack prints one line per webhook and per tool call", 1)
    assert len(after) == 2, "README no longer introduces the stack's output with 'The stack prints one line…'"
    [(_, body), *_] = fenced_blocks(after[1])
    return [line for line in body.splitlines() if line.strip()]


def test_the_readme_sample_documents_what_the_stack_does(
    local_stack: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base = {
        DEFAULT_FRONT_DOOR_PORT: local_stack.front_door_url.rstrip("/"),
        DEFAULT_SIMULATOR_PORT: local_stack.simulator_url.rstrip("/"),
    }
    commands = sample_commands()
    assert [as_request(c.argv).method for c in commands] == ["POST", "GET", "POST", "GET"], commands
    # the stack prints its lines for this test (the session's stack is quiet)
    monkeypatch.setattr(local_stack, "config", dataclasses.replace(local_stack.config, quiet=False))
    capsys.readouterr()

    firing: dict[str, Any] | None = None
    incident_id: str | None = None
    for command in commands:
        request = as_request(command.argv)
        assert request.port in base, f"README sample talks to port {request.port}, which the stack does not use"
        content = None
        if request.data_file:
            sample = json.loads((REPO_ROOT / request.data_file).read_text(encoding="utf-8"))
            assert (REPO_ROOT / request.data_file).parent == EVENTS / "alertmanager"
            if sample["status"] == "firing":
                firing = unique_notification(sample)
                content = json.dumps(firing).encode()
            else:
                assert firing is not None, "README sample resolves before it fires"
                content = json.dumps(resolved_version(firing, sample)).encode()
        response = httpx.request(
            request.method, base[request.port] + request.path, headers=request.headers, content=content, timeout=30
        )
        if request.method == "POST":
            assert response.status_code == 202, response.text
            for documented in command.expected:
                matches_documented_answer(documented, response.json())
            continue
        assert request.path == "/_sim/state" and firing is not None
        one = re.fullmatch(r"one incident for the (\S+) group, status (\w+)", command.comment)
        same = re.fullmatch(r"the same incident, now (\w+)", command.comment)
        assert one or same, f"README's comment {command.comment!r} is not one this test knows how to check"
        if one:
            assert firing["groupLabels"]["alertname"] == one.group(1)
            status = one.group(2)
        else:
            assert same is not None and incident_id is not None
            status = same.group(1)
        # the sample's GET is taken once the pipeline has acted, as a reader running it by hand would see it
        wait_until(
            lambda status=status, group=firing: [i["status"] for i in incidents_for(local_stack, group)] == [status],
            what=f"one incident for the group, status {status}",
        )
        [incident] = incidents_for(local_stack, firing)
        if same:
            assert incident["id"] == incident_id, "the resolve closed another incident than the one opened"
        incident_id = incident["id"]

    printed = capsys.readouterr().out.splitlines()
    position = 0
    for documented in documented_stack_lines():
        pattern = printed_line_pattern(documented)
        found = next((i for i in range(position, len(printed)) if pattern.fullmatch(printed[i])), None)
        assert found is not None, f"the stack did not print README's line (in order):\n{documented}\n\n" + "\n".join(
            printed
        )
        position = found + 1
