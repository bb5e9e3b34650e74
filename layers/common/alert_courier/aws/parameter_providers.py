"""Powertools Parameters providers on boto3's default session.

`SecretsProvider()` / `SSMProvider()` each build a boto3 session of their own, which loads the endpoint and
partition data again: about 60 ms of cold start per provider (measured, README "Benchmarks"). A client from
the default session shares what the function's other clients already loaded.
"""

from __future__ import annotations

import logging

import boto3
from aws_lambda_powertools.utilities import parameters

# botocore logs every response body at DEBUG, GetSecretValue's SecretString included.
BOTOCORE_BODY_LOGGER = "botocore.parsers"


def secrets_provider() -> parameters.SecretsProvider:
    keep_secret_values_out_of_logs()
    return parameters.SecretsProvider(boto3_client=boto3.client("secretsmanager"))


class _NoSecretValues(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "SecretString" not in message and "SecretBinary" not in message


def keep_secret_values_out_of_logs() -> None:
    """Drops botocore's DEBUG body lines that carry a secret's value, for every secret this process reads."""
    body_logger = logging.getLogger(BOTOCORE_BODY_LOGGER)
    if not any(isinstance(existing, _NoSecretValues) for existing in body_logger.filters):
        body_logger.addFilter(_NoSecretValues())


def ssm_provider() -> parameters.SSMProvider:
    return parameters.SSMProvider(boto3_client=boto3.client("ssm"))
