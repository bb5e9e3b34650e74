"""Where the functions get their rules: the file shipped with the deployment, optionally overridden without a
redeploy by an SSM parameter (read through Powertools Parameters, cached per container).

The override replaces only the top-level sections it contains (`domain.rules_override`). An invalid override is
refused: the rules in force stay, it is logged, and `RulesOverrideInvalid` is counted (an alarm watches it).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from alert_courier.domain.rules import RulesError, RuleSet, load_rules
from alert_courier.domain.rules_override import override_rules
from alert_courier.use_cases.ports import Telemetry
from alert_courier.use_cases.telemetry import NoTelemetry

logger = logging.getLogger("alert_courier")
RULES_CACHE_SECONDS = 60
INVALID_OVERRIDE_METRIC = "RulesOverrideInvalid"


class RulesSource:
    def __init__(
        self,
        rules_file: str = "",
        parameter_name: str = "",
        provider: Any | None = None,
        *,
        telemetry: Telemetry | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bundled = load_rules(rules_file or None)  # a broken shipped file fails the cold start, loudly
        self._parameter = parameter_name
        self._provider = provider
        self._telemetry = telemetry or NoTelemetry()
        self._clock = clock
        self._last_text_hash = ""
        self._current = self._bundled
        self._invalid_counted_at: float | None = None  # set while the parameter holds an invalid override

    def __call__(self) -> RuleSet:
        if not self._parameter:
            return self._bundled
        try:
            text = str(self._ssm().get(self._parameter, max_age=RULES_CACHE_SECONDS))
        except Exception as error:  # the parameter store being unreachable must not stop alerts
            logger.warning("rules parameter unreadable; keeping the current rules", extra={"error": str(error)})
            return self._current
        digest = hashlib.sha256(text.encode()).hexdigest()
        if digest != self._last_text_hash:
            self._last_text_hash = digest
            try:
                self._current = override_rules(self._bundled, text, f"ssm:{self._parameter}")
                self._invalid_counted_at = None
                logger.info("rules loaded from the parameter store", extra={"parameter": self._parameter})
            except RulesError as error:
                logger.error("rules override is invalid; keeping the current rules", extra={"error": str(error)})
                self._count_invalid()
        elif self._invalid_counted_at is not None and self._clock() - self._invalid_counted_at >= RULES_CACHE_SECONDS:
            self._count_invalid()  # once a minute while it stays invalid, so the alarm stays on until it is fixed
        return self._current

    def _count_invalid(self) -> None:
        self._invalid_counted_at = self._clock()
        self._telemetry.count(INVALID_OVERRIDE_METRIC)

    def _ssm(self) -> Any:
        if self._provider is None:
            from alert_courier.aws.parameter_providers import ssm_provider

            self._provider = ssm_provider()
        return self._provider
