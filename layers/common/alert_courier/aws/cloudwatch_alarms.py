"""CloudWatch's current alarm states for the reconcile pass: `DescribeAlarms` by name, at most 100 names a call, in
each alarm's own account and region (another account through an optional role: `sts:AssumeRole`).

OK and INSUFFICIENT_DATA both count as not firing (README "Reconciliation": an alarm without data is no longer
saying something is wrong); an alarm CloudWatch does not know (deleted, or in another account whose role is not
given) says nothing: it is left as it is (an operator's `alert-courier resolve` ends it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from alert_courier.domain.group_state import GroupState
from alert_courier.domain.reconciliation import Observation

NAMES_PER_CALL = 100  # DescribeAlarms' AlarmNames limit
_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):cloudwatch:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):alarm:(?P<name>.+)"
)

ClientFactory = Callable[[str, str, str | None], Any]  # (account, region, role ARN or None) → a CloudWatch client


_ROLE = re.compile(r"arn:aws[a-z-]*:iam::(?P<account>[0-9]{12}):role/.+")


def parse_role_arns(text: str) -> dict[str, str]:
    """The `ReconcileRoleArns` parameter's value, role ARNs separated by commas (each one's account is in it)
    → account → role ARN. The alarms of an account without a role are read with the function's own role."""
    roles: dict[str, str] = {}
    for part in (piece.strip() for piece in text.replace("\n", ",").split(",")):
        if not part:
            continue
        role = _ROLE.fullmatch(part)
        if role is None:
            raise ValueError(f"{part!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
        roles[role["account"]] = part
    return roles


def boto3_clients(endpoint_url: str | None = None) -> ClientFactory:
    """CloudWatch clients per account and region, through the account's role when one is given (cached)."""
    import boto3

    cache: dict[tuple[str, str, str | None], Any] = {}

    def client(account: str, region: str, role_arn: str | None) -> Any:
        key = (account, region, role_arn)
        if key not in cache:
            if role_arn:
                sts = boto3.client("sts", region_name=region, endpoint_url=endpoint_url)
                creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="alert-courier-reconcile")["Credentials"]
                cache[key] = boto3.client(
                    "cloudwatch",
                    region_name=region,
                    endpoint_url=endpoint_url,
                    aws_access_key_id=creds["AccessKeyId"],
                    aws_secret_access_key=creds["SecretAccessKey"],
                    aws_session_token=creds["SessionToken"],
                )
            else:
                cache[key] = boto3.client("cloudwatch", region_name=region, endpoint_url=endpoint_url)
        return cache[key]

    return client


class CloudWatchAlarmStates:
    """The reconcile pass's view of CloudWatch (a `use_cases.reconciliation.TruthSource`)."""

    name = "CloudWatch"

    def __init__(self, clients: ClientFactory, *, role_arns: dict[str, str] | None = None) -> None:
        self._clients = clients
        self._roles = role_arns or {}
        self.calls = 0  # DescribeAlarms calls made (batched per account and region)
        self.missing: list[str] = []  # alarms CloudWatch did not know (left as they are)

    def covers(self, state: GroupState) -> bool:
        return state.source == "cloudwatch"

    def observe(self, states: list[GroupState]) -> dict[str, Observation]:
        by_place: dict[tuple[str, str], dict[str, str]] = {}  # (account, region) → alarm name → ARN
        for state in states:
            for arn in [*state.firing, *state.resolved_through]:
                parsed = _ARN.fullmatch(arn)
                if parsed:
                    by_place.setdefault((parsed["account"], parsed["region"]), {})[parsed["name"]] = arn
        observed: dict[str, Observation] = {}
        for (account, region), names in sorted(by_place.items()):
            client = self._clients(account, region, self._roles.get(account))
            ordered = sorted(names)
            for start in range(0, len(ordered), NAMES_PER_CALL):
                batch = ordered[start : start + NAMES_PER_CALL]
                found = self._describe(client, batch)
                for name in batch:
                    arn = names[name]
                    alarm = found.get(name)
                    if alarm is None:  # deleted, or another account read without its role: no news
                        self.missing.append(arn)
                        continue
                    state_value = str(alarm.get("StateValue", ""))
                    at = _utc(alarm.get("StateUpdatedTimestamp"))
                    says = f"CloudWatch says {state_value} at {at.isoformat()}"
                    observed[arn] = Observation(arn, state_value == "ALARM", at, says, title=f"CloudWatch alarm {name}")
        return observed

    def _describe(self, client: Any, names: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        kwargs: dict[str, Any] = {"AlarmNames": names, "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}
        while True:
            self.calls += 1
            page = client.describe_alarms(**kwargs)
            for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                found[str(alarm["AlarmName"])] = alarm
            if not page.get("NextToken"):
                return found
            kwargs["NextToken"] = page["NextToken"]


def _utc(moment: Any) -> datetime:
    if not isinstance(moment, datetime):
        return datetime.now(UTC)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
