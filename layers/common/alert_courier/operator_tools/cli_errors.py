"""Operational errors of the `alert-courier` command, told in one line instead of a traceback."""

from __future__ import annotations

import sys


class CliError(Exception):
    """Something the operator can fix (a missing file, a stack that is down); the message says what, in one line."""


def one_line_message(error: BaseException) -> str | None:
    """What to tell the operator about `error`, or None when it is a bug (whose traceback should be seen)."""
    if isinstance(error, CliError):
        return str(error)
    if isinstance(error, BrokenPipeError):
        return "output closed before everything was written (broken pipe)"
    # Only modules the command has already imported: the check must not import boto3 or httpx itself.
    botocore = sys.modules.get("botocore.exceptions")
    if botocore is not None:
        if isinstance(error, botocore.NoRegionError):
            return "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or AWS_PROFILE with a region)"
        if isinstance(error, botocore.NoCredentialsError):
            return "no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        if isinstance(error, botocore.EndpointConnectionError):
            return f"cannot reach {error.kwargs.get('endpoint_url')}: is the deployment (or `make run`) up?"
        if isinstance(error, botocore.BotoCoreError | botocore.ClientError):
            return _first_line(str(error))
    if isinstance(error, OSError):
        if error.filename:
            return f"{error.filename}: {error.strerror or error}"
        return _first_line(str(error)) or type(error).__name__
    httpx = sys.modules.get("httpx")
    if httpx is not None and isinstance(error, httpx.HTTPError):
        return f"{type(error).__name__}: {_first_line(str(error))}"
    return None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""
