"""The telemetry port through Powertools Metrics (CloudWatch EMF)."""

from __future__ import annotations

import os


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
