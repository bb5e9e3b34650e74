"""Checks made before the local stack starts, so that a busy port or a bad LOCAL_* value is one clear line."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable

from alert_courier.operator_tools.local_settings import HOST_VARIABLE


class StackStartError(RuntimeError):
    """The local stack cannot start; the message says why and what to change, in one line."""


def ensure_ports_free(host: str, ports: Iterable[tuple[str, int]]) -> None:
    """Each (variable, port) can be listened on at `host`; port 0 (the system picks) always can."""
    wanted = [(variable, port) for variable, port in ports if port != 0]
    seen: dict[int, str] = {}
    for variable, port in wanted:
        if port in seen:
            raise StackStartError(f"{seen[port]} and {variable} are both {port}: each needs a port of its own")
        seen[port] = variable
    for variable, port in wanted:
        ensure_port_free(host, port, variable)


def ensure_port_free(host: str, port: int, variable: str) -> None:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror:
        raise StackStartError(f"{HOST_VARIABLE}={host!r} is not an address this machine can listen on") from None
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn and werkzeug do, so a port whose last connections are in TIME_WAIT is not called busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise StackStartError(
                    f"port {port} on {host} is already in use: stop what listens there, "
                    f"or set {variable} to a free port"
                ) from None
            raise StackStartError(
                f"cannot listen on {host}:{port} ({HOST_VARIABLE}, {variable}): {error.strerror or error}"
            ) from None
