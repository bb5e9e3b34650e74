"""The whole local stack in one process: moto, the incident.io simulator, the front door and the pollers."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from .aws import DEV_API_KEY, LocalAws, provision, start_moto
from .event_source import SqsPoller
from .frontdoor import front_door_app
from .lambda_runtime import LocalFunction, apply_environment, load_function
from .servers import BackgroundServer
from .simulator import start_simulator
from .template_model import functions, load_template


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclass(frozen=True)
class StackConfig:
    """Published local defaults; each can be overridden by the environment variable named beside it."""

    host: str = field(default_factory=lambda: os.environ.get("LOCAL_HOST", "127.0.0.1"))
    front_door_port: int = field(default_factory=lambda: _env_int("LOCAL_FRONT_DOOR_PORT", 3000))
    simulator_port: int = field(default_factory=lambda: _env_int("LOCAL_SIMULATOR_PORT", 3001))
    aws_port: int = field(default_factory=lambda: _env_int("LOCAL_AWS_PORT", 3002))
    dispatch_workers: int = field(default_factory=lambda: _env_int("LOCAL_DISPATCH_WORKERS", 1))
    redelivery_seconds: int = field(default_factory=lambda: _env_int("LOCAL_REDELIVERY_SECONDS", 2))
    quiet: bool = False


class LocalStack:
    def __init__(self, config: StackConfig | None = None, env_overrides: dict[str, str] | None = None) -> None:
        self.config = config or StackConfig()
        self._env_overrides = env_overrides or {}
        self._lock = threading.Lock()
        self.aws: LocalAws | None = None
        self.simulator: Any = None
        self.front_door: BackgroundServer | None = None
        self.functions: dict[str, LocalFunction] = {}
        self.pollers: list[SqsPoller] = []

    def log(self, line: str) -> None:
        if not self.config.quiet:
            with self._lock:
                print(line, flush=True)

    def start(self) -> LocalStack:
        config = self.config
        template = load_template()
        self.aws = start_moto(config.host, config.aws_port)
        provision(self.aws, template)
        self.simulator = start_simulator(
            host=config.host,
            port=config.simulator_port,
            api_keys={DEV_API_KEY},
            on_event=lambda event: self.log(event.line),
        )
        self.aws.refs["McpServerUrl"] = self.simulator.mcp_url
        specs = functions(template)
        log_level = os.environ.get("LOCAL_LOG_LEVEL", "WARNING")  # the readable lines above are the default view
        overrides = {
            "POWERTOOLS_LOG_LEVEL": log_level,
            "AWS_LAMBDA_LOG_LEVEL": log_level,
            "INCIDENT_IO_API_URL": self.simulator.url,  # the simulator serves the REST alert-event endpoints too
            **self._env_overrides,
        }
        apply_environment(specs, self.aws.refs, overrides)
        self.functions = {spec.logical_id: load_function(spec) for spec in specs}
        routes = [(route, self.functions[spec.logical_id]) for spec in specs for route in spec.http_routes]
        self.front_door = BackgroundServer(
            front_door_app(routes, self.log), config.host, config.front_door_port
        ).start()
        sqs = self.aws.client("sqs")
        for spec in specs:
            for queue in spec.sqs_queue_refs:
                for worker in range(config.dispatch_workers):
                    poller = SqsPoller(
                        sqs,
                        self.aws.refs[queue],
                        self.aws.refs[f"{queue}.Arn"],
                        self.functions[spec.logical_id],
                        redelivery_seconds=config.redelivery_seconds,
                        log=self.log,
                        name=f"{spec.logical_id}-{worker}",
                    )
                    self.pollers.append(poller.start())
        return self

    @property
    def front_door_url(self) -> str:
        assert self.front_door is not None
        return self.front_door.url

    @property
    def simulator_url(self) -> str:
        return str(self.simulator.url)

    def stop(self) -> None:
        for poller in self.pollers:
            poller.stop()
        if self.front_door:
            self.front_door.stop()
        if self.simulator:
            self.simulator.stop()
        if self.aws:
            self.aws.stop()


def main() -> int:
    stack = LocalStack().start()
    config = stack.config
    print(
        "alert-courier local stack is up (no AWS account, no Docker):\n"
        f"  front door     {stack.front_door_url}/webhooks/<source>   (webhook token: local-dev-token)\n"
        f"  incident.io    {stack.simulator_url}/mcp   state: {stack.simulator_url}/_sim/state   "
        f"stats: {stack.simulator_url}/_sim/stats\n"
        f"  moto (AWS)     {stack.aws.endpoint_url if stack.aws else ''}   "
        f"dispatch workers: {config.dispatch_workers}\n"
        "  try:  curl -s -X POST localhost:3000/webhooks/alertmanager -H 'Authorization: Bearer local-dev-token' "
        "-H 'Content-Type: application/json' --data @events/alertmanager/firing.json\n"
        "Ctrl-C stops it.",
        flush=True,
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
