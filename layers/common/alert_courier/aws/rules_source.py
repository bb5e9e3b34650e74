"""Where the dispatch function gets its rules: the file shipped with the deployment, optionally overridden
without a redeploy by an SSM parameter (read through Powertools Parameters, cached per container).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from alert_courier.domain.rules import RulesError, RuleSet, load_rules, parse_rules

logger = logging.getLogger("alert_courier")
RULES_CACHE_SECONDS = 60


class RulesSource:
    def __init__(self, rules_file: str = "", parameter_name: str = "", provider: Any | None = None) -> None:
        self._bundled = load_rules(rules_file or None)  # a broken shipped file fails the cold start, loudly
        self._parameter = parameter_name
        self._provider = provider
        self._last_text_hash = ""
        self._current = self._bundled

    def __call__(self) -> RuleSet:
        if not self._parameter:
            return self._bundled
        try:
            text = self._ssm().get(self._parameter, max_age=RULES_CACHE_SECONDS)
        except Exception as error:  # the parameter store being unreachable must not stop alerts
            logger.warning("rules parameter unreadable; keeping the current rules", extra={"error": str(error)})
            return self._current
        digest = hashlib.sha256(str(text).encode()).hexdigest()
        if digest != self._last_text_hash:
            self._last_text_hash = digest
            try:
                self._current = parse_rules(str(text), f"ssm:{self._parameter}")
                logger.info("rules loaded from the parameter store", extra={"parameter": self._parameter})
            except RulesError as error:
                logger.error("rules override is invalid; keeping the current rules", extra={"error": str(error)})
        return self._current

    def _ssm(self) -> Any:
        if self._provider is None:
            from alert_courier.aws.parameter_providers import ssm_provider

            self._provider = ssm_provider()
        return self._provider
