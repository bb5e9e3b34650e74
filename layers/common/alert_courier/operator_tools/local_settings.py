"""The local stack's `LOCAL_*` settings, read one way by the stack (`make run`) and by `alert-courier --local`.

It lives in the layer package, not in `alert_courier_local`, so that the CLI can find the local stack without
importing the stack's own (heavier, dev-only) package. Standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

# Published defaults (README "Try it locally"): users' scripts rely on them.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_FRONT_DOOR_PORT = 3000
DEFAULT_SIMULATOR_PORT = 3001
DEFAULT_AWS_PORT = 3002

HOST_VARIABLE = "LOCAL_HOST"
FRONT_DOOR_PORT_VARIABLE = "LOCAL_FRONT_DOOR_PORT"
SIMULATOR_PORT_VARIABLE = "LOCAL_SIMULATOR_PORT"
AWS_PORT_VARIABLE = "LOCAL_AWS_PORT"
AWS_ENDPOINT_VARIABLE = "LOCAL_AWS_ENDPOINT"  # the CLI only: moto somewhere other than LOCAL_HOST:LOCAL_AWS_PORT


class LocalSettingError(ValueError):
    """A LOCAL_* variable holds a value it cannot have; the message names the variable and what it must be."""


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    value = (os.environ if environ is None else environ).get(name)
    return None if value is None or not value.strip() else value.strip()


def env_int(
    name: str, default: int, *, minimum: int = 0, maximum: int | None = None, environ: Mapping[str, str] | None = None
) -> int:
    raw = _raw(name, environ)
    if raw is None:
        return default
    bounds = f"{minimum}–{maximum}" if maximum is not None else f"≥ {minimum}"
    try:
        value = int(raw)
    except ValueError:
        raise LocalSettingError(f"{name}={raw!r}: must be an integer {bounds}") from None
    if value < minimum or (maximum is not None and value > maximum):
        raise LocalSettingError(f"{name}={raw!r}: must be an integer {bounds}")
    return value


def env_float(name: str, default: float, *, minimum: float = 0.0, environ: Mapping[str, str] | None = None) -> float:
    raw = _raw(name, environ)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise LocalSettingError(f"{name}={raw!r}: must be a number ≥ {minimum:g}") from None
    if not value >= minimum:  # also refuses nan
        raise LocalSettingError(f"{name}={raw!r}: must be a number ≥ {minimum:g}")
    return value


def env_port(name: str, default: int, *, environ: Mapping[str, str] | None = None) -> int:
    """A TCP port; 0 lets the system pick a free one (what the tests use)."""
    return env_int(name, default, minimum=0, maximum=65535, environ=environ)


def env_host(environ: Mapping[str, str] | None = None) -> str:
    return _raw(HOST_VARIABLE, environ) or DEFAULT_HOST


def connectable_host(host: str) -> str:
    """Where a client reaches a server bound to `host` (a wildcard bind is reached on loopback)."""
    host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True)
class LocalEndpoints:
    """Where the local stack listens, as its LOCAL_* variables say."""

    host: str
    front_door_port: int
    simulator_port: int
    aws_port: int
    aws_endpoint_override: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> LocalEndpoints:
        return cls(
            host=env_host(environ),
            front_door_port=env_port(FRONT_DOOR_PORT_VARIABLE, DEFAULT_FRONT_DOOR_PORT, environ=environ),
            simulator_port=env_port(SIMULATOR_PORT_VARIABLE, DEFAULT_SIMULATOR_PORT, environ=environ),
            aws_port=env_port(AWS_PORT_VARIABLE, DEFAULT_AWS_PORT, environ=environ),
            aws_endpoint_override=_raw(AWS_ENDPOINT_VARIABLE, environ),
        )

    def _url(self, port: int) -> str:
        return f"http://{connectable_host(self.host)}:{port}"

    @property
    def front_door_url(self) -> str:
        return self._url(self.front_door_port)

    @property
    def simulator_url(self) -> str:
        return self._url(self.simulator_port)

    @property
    def aws_endpoint(self) -> str:
        return (self.aws_endpoint_override or self._url(self.aws_port)).rstrip("/")

    @property
    def aws_endpoint_setting(self) -> str:
        """The variable that moves `aws_endpoint`, for messages."""
        return AWS_ENDPOINT_VARIABLE if self.aws_endpoint_override else f"{HOST_VARIABLE}/{AWS_PORT_VARIABLE}"
