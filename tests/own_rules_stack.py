"""A local stack of its own with rules of its own, started as a user would (`RULES_FILE=rules.yaml make run`), on
ephemeral ports read from its start-up lines: for what the session stack cannot show, since it runs the shipped
rules (tests/conftest.py `own_rules_stack`)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from tests.conftest import REPO_ROOT

STABLE_SECONDS = 30  # flappy's flap.within: short, so that a test can watch a held-open incident close
RULES = f"""
version: 1
rules:
  - name: flappy
    match: {{labels: {{test: flap}}}}
    reopen_within: 30m
    flap: {{changes: 4, within: {STABLE_SECONDS}s}}
    actions: [{{open_incident: {{per: group, on_resolve: resolve}}}}]
  # one day, the longest window: a test's groups fall in one window unless it runs across midnight UTC
  - name: nodes
    match: {{labels: {{test: storm}}}}
    storm: {{groups: 1, within: 1d}}
    actions: [open_incident]
"""


@dataclass
class StackProcess:
    rules_file: Path
    front_door_url: str
    simulator_url: str
    aws_endpoint: str
    output: list[str]  # every line the stack printed so far

    def aws(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.aws_endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def queued(self) -> int:
        """Messages on the alert queue and the DLQ, waiting or in flight (0: dispatch has done everything)."""
        sqs = self.aws("sqs")
        total = 0
        for queue_url in sqs.list_queues().get("QueueUrls", []):
            attributes = sqs.get_queue_attributes(
                QueueUrl=queue_url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            total += sum(int(count) for count in attributes.values())
        return total


@contextmanager
def own_rules_stack(rules_file: Path) -> Iterator[StackProcess]:
    """`python -m alert_courier_local` (what `make run` runs) with RULES_FILE, its scheduler ticking every second."""
    rules_file.write_text(RULES)
    environ = {name: value for name, value in os.environ.items() if not name.startswith(("LOCAL_", "AWS_"))}
    environ |= {
        "RULES_FILE": str(rules_file),
        "LOCAL_FRONT_DOOR_PORT": "0",
        "LOCAL_SIMULATOR_PORT": "0",
        "LOCAL_AWS_PORT": "0",
        "LOCAL_SCHEDULE_SECONDS": "1",
        "LOCAL_REDELIVERY_SECONDS": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "alert_courier_local"],
        cwd=REPO_ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    up = threading.Event()

    def read() -> None:  # the stack prints a line per webhook and tool call: keep its pipe drained
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip())
            if line.startswith("Ctrl-C stops it."):
                up.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not up.wait(60):
            raise RuntimeError("the local stack did not start:\n" + "\n".join(output))
        banner = "\n".join(output)

        def url(label: str) -> str:
            found = re.search(rf"^  {label}\s+(http://[^\s/]+)", banner, re.MULTILINE)
            if not found:
                raise RuntimeError(f"no {label} in the start-up lines:\n{banner}")
            return found.group(1)

        yield StackProcess(rules_file, url("front door"), url("incident.io"), url(r"moto \(AWS\)"), output)
    finally:
        process.send_signal(signal.SIGTERM)  # the stack stops itself on SIGTERM
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
