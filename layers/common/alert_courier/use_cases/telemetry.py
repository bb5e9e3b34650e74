"""Counts and timings the dispatch path reports; the Powertools (EMF) implementation lives at the edge."""

from __future__ import annotations

import os
from typing import Protocol


class Telemetry(Protocol):
    def count(self, name: str, value: float = 1, **dimensions: str) -> None: ...

    def timing(self, name: str, milliseconds: float, **dimensions: str) -> None: ...


class NoTelemetry:
    def count(self, name: str, value: float = 1, **dimensions: str) -> None:
        return None

    def timing(self, name: str, milliseconds: float, **dimensions: str) -> None:
        return None


class RecordedTelemetry:
    """Keeps what was reported, for tests and benchmarks."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.timings: list[tuple[str, float, dict[str, str]]] = []

    def count(self, name: str, value: float = 1, **dimensions: str) -> None:
        key = (name, tuple(sorted(dimensions.items())))
        self.counts[key] = self.counts.get(key, 0) + value

    def timing(self, name: str, milliseconds: float, **dimensions: str) -> None:
        self.timings.append((name, milliseconds, dimensions))

    def total(self, name: str) -> float:
        return sum(value for (metric, _), value in self.counts.items() if metric == name)


class PowertoolsTelemetry:
    """EMF metrics through Powertools; dimensioned ones as single metrics so dimensions don't leak across."""

    def __init__(self, metrics: object) -> None:
        self._metrics = metrics

    def count(self, name: str, value: float = 1, **dimensions: str) -> None:
        self._emit(name, value, "Count", dimensions)

    def timing(self, name: str, milliseconds: float, **dimensions: str) -> None:
        self._emit(name, milliseconds, "Milliseconds", dimensions)

    def _emit(self, name: str, value: float, unit: str, dimensions: dict[str, str]) -> None:
        if os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() == "true":
            return  # single_metric would still print its blob (the local stack disables metrics)
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        metric_unit = MetricUnit(unit)
        if not dimensions:
            self._metrics.add_metric(name=name, unit=metric_unit, value=value)  # type: ignore[attr-defined]
            return
        with single_metric(name=name, unit=metric_unit, value=value) as metric:
            for key, dimension in dimensions.items():
                metric.add_dimension(name=key, value=dimension)
