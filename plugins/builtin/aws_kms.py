"""The AWS KMS encryption backend's plugin (`aws_kms`): its configuration
and registration. The backend itself is plugins/builtin/aws_kms_backend.py,
imported only when AWS_KMS_KEY_ID is set: boto3 and botocore took about a
quarter of the server's import time (measured, 2026-12-04), paid by every
server that never uses KMS.

Configuration (environment or `.env`):

- AWS_KMS_KEY_ID: the KMS key that wraps new data keys (key id, ARN or
  alias). Setting it makes the backend available.
- AWS_REGION: required with AWS_KMS_KEY_ID.
- AWS_ENDPOINT_URL_KMS: optional endpoint (a VPC endpoint, LocalStack, moto).
- AWS_KMS_RETRY_ATTEMPTS (3), AWS_KMS_RETRY_DEADLINE (20 s),
  AWS_KMS_RETRY_BACKOFF (0.1 s), AWS_KMS_RETRY_BACKOFF_MAX (2 s): the retry
  policy (plugins/retries.py).
- Credentials come from boto3's default chain (environment, shared files,
  instance or task role). When AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
  (and AWS_SESSION_TOKEN) are set only in Strongroom's `.env` file, they are
  passed to boto3 explicitly, since boto3 does not read that file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from plugins import ConfigError, hookimpl
from plugins.interfaces import PluginConfig
from plugins.retries import RetryPolicy, RetryVariables

if TYPE_CHECKING:
    from plugins.builtin.aws_kms_backend import AwsKmsBackend

RETRY_VARIABLES = RetryVariables(
    "AWS_KMS_RETRY_ATTEMPTS", "AWS_KMS_RETRY_DEADLINE", "AWS_KMS_RETRY_BACKOFF", "AWS_KMS_RETRY_BACKOFF_MAX"
)


def _credentials(environ: Mapping[str, str]) -> dict[str, str] | None:
    """Static credentials from Strongroom's environment when boto3 cannot see them.

    Only when they come from the `.env` file: variables of the real
    environment are read by boto3's default chain anyway.
    """
    access, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    if not access or not secret or os.environ.get("AWS_ACCESS_KEY_ID") == access:
        return None
    credentials = {"aws_access_key_id": access, "aws_secret_access_key": secret}
    if environ.get("AWS_SESSION_TOKEN"):
        credentials["aws_session_token"] = environ["AWS_SESSION_TOKEN"]
    return credentials


@hookimpl(trylast=True)
def register_encryption_backends(config: PluginConfig) -> Iterable[AwsKmsBackend]:
    settings = config.settings
    if settings is not None:
        key_id, region, endpoint = settings.aws_kms_key_id, settings.aws_region, settings.aws_endpoint_url_kms
    else:

        def text(name: str) -> str | None:
            return (config.environ.get(name) or "").strip() or None

        key_id, region, endpoint = text("AWS_KMS_KEY_ID"), text("AWS_REGION"), text("AWS_ENDPOINT_URL_KMS")
    if not key_id:
        return []
    if not region:
        raise ConfigError("AWS_REGION", "must be set with AWS_KMS_KEY_ID")
    retry = RetryPolicy.from_environ(config.environ, RETRY_VARIABLES)
    from plugins.builtin.aws_kms_backend import AwsKmsBackend  # boto3 only when configured

    return [AwsKmsBackend(key_id, region, endpoint, credentials=_credentials(config.environ), retry=retry)]
