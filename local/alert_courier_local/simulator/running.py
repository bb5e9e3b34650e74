"""Run the simulator under uvicorn on a daemon thread: `start_simulator(...)` returns once it answers."""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from .events import EventHook
from .server import MCP_PATH, DroppedConnectionLogFilter, SimulatorApp
from .simulator import ApiKeys, Simulator

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3001
READY_TIMEOUT_SECONDS = 10.0
# Requests stalled by the act_then_timeout fault must not hold up stop() for long.
GRACEFUL_SHUTDOWN_SECONDS = 1


class RunningSimulator:
    """A simulator being served over HTTP. `url` is the base URL; MCP is at `mcp_url`."""

    def __init__(
        self, simulator: Simulator, server: uvicorn.Server, thread: threading.Thread, host: str, port: int
    ) -> None:
        self.simulator = simulator
        self.host = host
        self.port = port
        self._server = server
        self._thread = thread

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def mcp_url(self) -> str:
        return self.url + MCP_PATH

    def stop(self, timeout: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RunningSimulator(url={self.url!r})"


def start_simulator(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    api_keys: ApiKeys | None = None,
    *,
    simulator: Simulator | None = None,
    on_event: EventHook | None = None,
    log_level: str = "warning",
    **options: Any,
) -> RunningSimulator:
    """Serve a simulator on host:port (port 0 picks a free one) and wait until it is ready.

    Pass a ready-made `simulator`, or let one be built from `api_keys` and `options` (any other
    `Simulator(...)` keyword: alert_sources, rate_limit_per_minute, faults, ...).
    """
    if simulator is None:
        keys: dict[str, Any] = {} if api_keys is None else {"api_keys": api_keys}
        simulator = Simulator(**keys, **options)
    elif api_keys is not None or options:
        raise TypeError("pass either a Simulator or the options to build one, not both")
    if on_event is not None:
        simulator.on_event = on_event

    listener = _bind(host, port)
    config = uvicorn.Config(
        SimulatorApp(simulator, host=host),
        log_level=log_level,
        access_log=False,
        proxy_headers=False,
        ws="none",
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    uvicorn_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, DroppedConnectionLogFilter) for f in uvicorn_log.filters):
        uvicorn_log.addFilter(DroppedConnectionLogFilter())
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name="incident-io-sim", daemon=True)
    thread.start()
    _wait_until_started(server, thread)
    return RunningSimulator(simulator, server, thread, host, listener.getsockname()[1])


def _bind(host: str, port: int) -> socket.socket:
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto says TCP,
    # and without it every keep-alive response waits ~40 ms for a delayed ACK.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise
    return listener


def _wait_until_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the simulator's server thread stopped during start-up (see the log above)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the simulator did not start within {READY_TIMEOUT_SECONDS:.0f} s")
        time.sleep(0.01)
