"""Powertools Parameters providers on boto3's default session.

`SecretsProvider()` / `SSMProvider()` each build a boto3 session of their own, which loads the endpoint and
partition data again: about 60 ms of cold start per provider (measured, README "Benchmarks"). A client from
the default session shares what the function's other clients already loaded.
"""

from __future__ import annotations

import boto3
from aws_lambda_powertools.utilities import parameters


def secrets_provider() -> parameters.SecretsProvider:
    return parameters.SecretsProvider(boto3_client=boto3.client("secretsmanager"))


def ssm_provider() -> parameters.SSMProvider:
    return parameters.SSMProvider(boto3_client=boto3.client("ssm"))
