"""Telemetry that goes nowhere (the default) or into memory (tests, benchmarks); the port is `ports.Telemetry`,
the Powertools (EMF) implementation is `aws.powertools_telemetry`."""

from __future__ import annotations


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
