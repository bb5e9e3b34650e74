"""Runs the template's Lambda handlers in this process, as the Lambda runtime would: env, context, import."""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .template_model import LambdaFunction, resolve

LOCAL_ENVIRONMENT = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
    "AWS_LAMBDA_LOG_LEVEL": "WARNING",
}


@dataclass
class FakeLambdaContext:
    """The attributes Powertools reads from a real LambdaContext."""

    function_name: str
    timeout_seconds: int
    aws_request_id: str = ""
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class LocalFunction:
    spec: LambdaFunction
    handler: Callable[[dict[str, Any], Any], Any]
    lock: threading.Lock

    def invoke(self, event: dict[str, Any]) -> Any:
        context = FakeLambdaContext(self.spec.logical_id, self.spec.timeout_seconds)
        return self.handler(event, context)

    def invoke_one_at_a_time(self, event: dict[str, Any]) -> Any:
        """Like one Lambda container: the Powertools resolver keeps the current request on the module."""
        with self.lock:
            return self.invoke(event)


def apply_environment(functions: list[LambdaFunction], refs: dict[str, str], overrides: dict[str, str]) -> None:
    """One process hosts every function, so their (distinct) variables share os.environ."""
    os.environ.update(LOCAL_ENVIRONMENT)
    for spec in functions:
        for name, value in spec.environment.items():
            os.environ[name] = resolve(value, refs)
    os.environ.update(overrides)


def function_module_name(logical_id: str) -> str:
    """The name a function's app.py is imported under (`sys.modules[...]`: the benches read its clients)."""
    return f"alert_courier_function_{logical_id}"


def load_function(spec: LambdaFunction) -> LocalFunction:
    """Imports functions/<name>/app.py under a unique module name (every function has an app.py)."""
    module_name = function_module_name(spec.logical_id)
    module = sys.modules.get(module_name)
    if module is None:
        path = spec.code_dir / f"{spec.module.replace('.', '/')}.py"
        loader_spec = importlib.util.spec_from_file_location(module_name, path)
        assert loader_spec is not None and loader_spec.loader is not None
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[module_name] = module
        loader_spec.loader.exec_module(module)
    return LocalFunction(spec=spec, handler=getattr(module, spec.handler), lock=threading.Lock())
