"""What can stop a decision from being saved or acted on, in the domain's words (adapters raise these)."""

from __future__ import annotations


class StaleState(Exception):
    """Someone else saved this group since we read it: re-read and decide again."""


class GroupTooLarge(Exception):
    """The group's state no longer fits one stored record: nothing can be saved for it as it is grouped."""

    def __init__(self, group_id: str, firing: int, stored_bytes: int, limit_bytes: int) -> None:
        super().__init__(
            f"alert group {group_id} tracks {firing} firing alerts ({stored_bytes:,} bytes compressed), more than "
            f"one DynamoDB item holds ({limit_bytes:,}); group these alerts more finely at the source "
            "(e.g. Alertmanager group_by), then replay"
        )


class ActionBusy(Exception):
    """Another worker holds the claim on this action right now: try the message again later."""


class PermanentFailure(Exception):
    """This message can never succeed as it is (e.g. arguments rejected): dead-letter it with the reason."""


class ActionFailed(Exception):
    """An action could not be performed. Adapters subclass it with their own detail.

    `permanent`: it can never succeed as it is (dead-letter the message); `ambiguous`: it may have taken effect
    before the failure (the next attempt must check before acting again).
    """

    @property
    def permanent(self) -> bool:
        return False

    @property
    def ambiguous(self) -> bool:
        return False

    def describe(self) -> str:
        return str(self)
