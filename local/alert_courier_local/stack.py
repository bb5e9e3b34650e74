"""The whole local stack in one process: moto, the incident.io simulator, the front door and the pollers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alert_courier.incident_io.contract import Contract, ContractError, read_contract
from alert_courier.operator_tools.local_settings import (
    AWS_PORT_VARIABLE,
    DEFAULT_AWS_PORT,
    DEFAULT_FRONT_DOOR_PORT,
    DEFAULT_SIMULATOR_PORT,
    FRONT_DOOR_PORT_VARIABLE,
    SIMULATOR_PORT_VARIABLE,
    LocalSettingError,
    env_float,
    env_host,
    env_int,
    env_port,
)

from .aws import LocalAws, clear_state, provision, start_moto
from .decision_lines import install_decision_lines
from .dev_credentials import DEV_API_KEY, DEV_WEBHOOK_TOKEN
from .event_source import SqsPoller
from .frontdoor import front_door_app
from .lambda_runtime import LocalFunction, apply_environment, load_function
from .local_routes import local_routes
from .servers import BackgroundServer
from .simulator import start_simulator
from .simulator.schemas import CONTRACT_VARIABLE
from .startup import StackStartError, ensure_ports_free
from .template_model import functions, load_template


class ScheduleTicker:
    """Stands in for EventBridge Scheduler: invokes a function with its schedule's event every few seconds.

    The template's rate is ignored on purpose: locally a schedule ticks every LOCAL_SCHEDULE_SECONDS, so a user
    can watch a heartbeat expire. Runs only when the previous one has finished (one ticker per schedule).
    """

    def __init__(
        self,
        function: LocalFunction,
        schedule: dict[str, Any],
        seconds: float,
        log: Any = print,
        name: str = "schedule",
    ) -> None:
        self.function = function
        self.event = schedule_event(schedule, function.spec.logical_id)
        self.seconds = seconds
        self.ticks = 0
        self._log = log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.busy = threading.Lock()  # held while a tick runs (a reset waits for it)

    def start(self) -> ScheduleTicker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def tick(self) -> Any:
        self.ticks += 1
        try:
            result = self.function.invoke(dict(self.event))
        except Exception as error:
            self._log(f"schedule    {self.function.spec.logical_id} failed: {type(error).__name__}: {error}")
            return None
        done = {key: value for key, value in (result or {}).items() if isinstance(value, list) and value}
        if done:
            self._log(f"schedule    {self.function.spec.logical_id} {json.dumps(done)[:300]}")
        return result

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            with self.busy:
                self.tick()


def schedule_event(schedule: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """The schedule's `Input` if it has a literal one, else what EventBridge sends for a scheduled rule."""
    given = schedule.get("Input")
    if isinstance(given, str):
        with contextlib.suppress(ValueError):
            document = json.loads(given)
            if isinstance(document, dict):
                return document
    return {
        "version": "0",
        "id": f"local-{logical_id}",
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": "123456789012",
        "region": "us-east-1",
        "resources": [f"arn:aws:scheduler:us-east-1:123456789012:schedule/default/local-{logical_id}"],
        "detail": {},
    }


@dataclass(frozen=True)
class StackConfig:
    """Published local defaults; each can be overridden by the environment variable named beside it."""

    host: str = field(default_factory=env_host)
    front_door_port: int = field(default_factory=lambda: env_port(FRONT_DOOR_PORT_VARIABLE, DEFAULT_FRONT_DOOR_PORT))
    simulator_port: int = field(default_factory=lambda: env_port(SIMULATOR_PORT_VARIABLE, DEFAULT_SIMULATOR_PORT))
    aws_port: int = field(default_factory=lambda: env_port(AWS_PORT_VARIABLE, DEFAULT_AWS_PORT))
    dispatch_workers: int = field(default_factory=lambda: env_int("LOCAL_DISPATCH_WORKERS", 1, minimum=1))
    redelivery_seconds: int = field(default_factory=lambda: env_int("LOCAL_REDELIVERY_SECONDS", 2))
    schedule_seconds: float = field(default_factory=lambda: env_float("LOCAL_SCHEDULE_SECONDS", 10))  # 0: off
    # a recorded contract (`alert-courier doctor --record`) for the simulator to serve; "": its own
    contract_path: str = field(default_factory=lambda: os.environ.get(CONTRACT_VARIABLE, "").strip())
    quiet: bool = False
    isolated_aws: bool = False  # moto in a child process (tests: an in-process mock_aws() would reset it)


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
        self.tickers: list[ScheduleTicker] = []
        self._uninstall_decision_lines: Callable[[], None] | None = None
        # what start put in os.environ (name -> (before, set)); stop puts it back, so a stack that stops
        # leaves no endpoint of its own behind for later code in the same process (a second stack in a test)
        self._environ_set: dict[str, tuple[str | None, str | None]] = {}

    def log(self, line: str) -> None:
        if not self.config.quiet:
            with self._lock:
                print(line, flush=True)

    def start(self) -> LocalStack:
        """Starts everything, or (StackStartError, LocalSettingError) nothing: what had started is stopped."""
        config = self.config
        ensure_ports_free(
            config.host,
            [
                (FRONT_DOOR_PORT_VARIABLE, config.front_door_port),
                (SIMULATOR_PORT_VARIABLE, config.simulator_port),
                (AWS_PORT_VARIABLE, config.aws_port),
            ],
        )
        environ_before = dict(os.environ)
        try:
            self._start()
        except BaseException:
            self._environ_set = _changed_variables(environ_before)
            self.stop()
            raise
        self._environ_set = _changed_variables(environ_before)
        return self

    def _start(self) -> LocalStack:
        config = self.config
        contract = self._contract()
        template = load_template()
        self.aws = start_moto(config.host, config.aws_port, isolated=config.isolated_aws)
        provision(self.aws, template)
        try:
            self.simulator = start_simulator(
                host=config.host,
                port=config.simulator_port,
                api_keys={DEV_API_KEY},
                on_event=lambda event: self.log(event.line),
                contract=contract,
            )
        except (OSError, RuntimeError) as error:  # the port was taken between the check and now
            raise StackStartError(f"the simulator did not start ({SIMULATOR_PORT_VARIABLE}): {error}") from None
        self.aws.refs["McpServerUrl"] = self.simulator.mcp_url
        specs = functions(template)
        log_level = os.environ.get("LOCAL_LOG_LEVEL", "WARNING")  # the readable lines above are the default view
        overrides = {
            "POWERTOOLS_LOG_LEVEL": log_level,
            "AWS_LAMBDA_LOG_LEVEL": log_level,
            "INCIDENT_IO_API_URL": self.simulator.url,  # the simulator serves the REST alert-event endpoints too
            "MAINTENANCE_CACHE_SECONDS": "2",  # a window opened with curl applies at once (AWS default: 30 s)
            # reconcile on every tick of the schedule (AWS: ReconcileMinutes); 0 ticks: off, as the schedule
            "RECONCILE_EVERY_MINUTES": f"{config.schedule_seconds / 60:g}",
            **self._env_overrides,
        }
        apply_environment(specs, self.aws.refs, overrides)
        self.functions = {spec.logical_id: load_function(spec) for spec in specs}
        self._uninstall_decision_lines = install_decision_lines(self.log)
        routes = [(route, self.functions[spec.logical_id]) for spec in specs for route in spec.http_routes]
        extra = local_routes(list(self.functions.values()), self.reset, self.log)
        try:
            self.front_door = BackgroundServer(
                front_door_app(routes, self.log, extra_routes=extra), config.host, config.front_door_port
            ).start()
        except RuntimeError as error:
            raise StackStartError(f"the front door did not start ({FRONT_DOOR_PORT_VARIABLE}): {error}") from None
        sqs = self.aws.client("sqs")
        for spec in specs:
            for queue in spec.sqs_queue_refs:
                receive_lock = threading.Lock()  # the queue's pollers receive one at a time (event_source.py)
                for worker in range(config.dispatch_workers):
                    poller = SqsPoller(
                        sqs,
                        self.aws.refs[queue],
                        self.aws.refs[f"{queue}.Arn"],
                        self.functions[spec.logical_id],
                        redelivery_seconds=config.redelivery_seconds,
                        log=self.log,
                        name=f"{spec.logical_id}-{worker}",
                        receive_lock=receive_lock,
                    )
                    self.pollers.append(poller.start())
        if config.schedule_seconds > 0:
            for spec in specs:
                for index, schedule in enumerate(spec.schedule_events):
                    ticker = ScheduleTicker(
                        self.functions[spec.logical_id],
                        schedule,
                        config.schedule_seconds,
                        log=self.log,
                        name=f"{spec.logical_id}-schedule-{index}",
                    )
                    self.tickers.append(ticker.start())
        return self

    def reset(self) -> dict[str, Any]:
        """A fresh start without a restart (`POST /_local/reset`, `alert-courier reset --local`): alert-courier's
        tables and queues emptied and the simulator reset (`/_sim/reset`), while no poller or schedule runs.
        The functions' module-level caches (rules, secrets, the organisation's IDs) stay: nothing they hold is state."""
        assert self.aws is not None
        with contextlib.ExitStack() as paused:
            for busy in [*(poller.busy for poller in self.pollers), *(ticker.busy for ticker in self.tickers)]:
                paused.enter_context(busy)
            cleared = clear_state(self.aws)
            self.simulator.simulator.reset()
        return {**cleared, "simulator_reset": True}

    def _contract(self) -> Contract | None:
        if not self.config.contract_path:
            return None
        try:
            return read_contract(self.config.contract_path)
        except ContractError as error:
            raise StackStartError(f"{CONTRACT_VARIABLE}: {error}") from None

    @property
    def front_door_url(self) -> str:
        assert self.front_door is not None
        return self.front_door.url

    @property
    def simulator_url(self) -> str:
        return str(self.simulator.url)

    def stop(self) -> None:
        if self._uninstall_decision_lines is not None:
            self._uninstall_decision_lines()
            self._uninstall_decision_lines = None
        for ticker in self.tickers:
            ticker.stop()
        for poller in self.pollers:
            poller.stop()
        if self.front_door:
            self.front_door.stop()
        if self.simulator:
            self.simulator.stop()
        if self.aws:
            self.aws.stop()
        for name, (before, set_value) in self._environ_set.items():
            if os.environ.get(name) != set_value:
                continue  # changed again since by someone else: theirs now
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before
        self._environ_set = {}


def _changed_variables(before: dict[str, str]) -> dict[str, tuple[str | None, str | None]]:
    names = set(before) | set(os.environ)
    return {
        name: (before.get(name), os.environ.get(name)) for name in names if before.get(name) != os.environ.get(name)
    }


def main() -> int:
    try:
        stack = LocalStack().start()
    except (LocalSettingError, StackStartError) as error:
        print(f"alert-courier local stack: {error}", file=sys.stderr, flush=True)
        return 1
    config = stack.config
    contract = f"  contract       {config.contract_path} ({CONTRACT_VARIABLE})\n" if config.contract_path else ""
    schedules = "".join(
        f"  schedule       {ticker.function.spec.logical_id} every {ticker.seconds:g} s (LOCAL_SCHEDULE_SECONDS)\n"
        for ticker in stack.tickers
    )
    print(
        "alert-courier local stack is up (no AWS account, no Docker):\n"
        f"  front door     {stack.front_door_url}/webhooks/<source>   (webhook token: {DEV_WEBHOOK_TOKEN})\n"
        f"  incident.io    {stack.simulator_url}/mcp   state: {stack.simulator_url}/_sim/state   "
        f"stats: {stack.simulator_url}/_sim/stats\n"
        f"  moto (AWS)     {stack.aws.endpoint_url if stack.aws else ''}   "
        f"dispatch workers: {config.dispatch_workers}\n"
        f"{contract}"
        f"{schedules}"
        f"  reset          POST {stack.front_door_url}/_local/reset   (or: alert-courier reset --local)\n"
        f"  try:  curl -s -X POST {stack.front_door_url}/webhooks/alertmanager "
        f"-H 'Authorization: Bearer {DEV_WEBHOOK_TOKEN}' "
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
