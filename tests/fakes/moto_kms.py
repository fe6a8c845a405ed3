"""A moto server standing in for AWS KMS, on 127.0.0.1:<free port>.

moto implements KMS Encrypt/Decrypt/ReEncrypt/DescribeKey/DisableKey with
real AES-GCM and enforces the EncryptionContext, but (unlike KMS) it still
decrypts with a disabled key: the backend's own key-state check covers that.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
#: moto accepts any credentials; these never reach AWS.
FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass
class MotoKms:
    endpoint_url: str
    key_arn: str
    region: str
    client: Any  # a boto3 KMS client for the tests' own set-up (create, disable keys)

    def create_key(self, description: str = "strongroom test key") -> str:
        """A new enabled SYMMETRIC_DEFAULT key; returns its ARN."""
        metadata = self.client.create_key(
            Description=description, KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT"
        )["KeyMetadata"]
        return str(metadata["Arn"])

    def disable_key(self, arn: str) -> None:
        # moto's DisableKey, EnableKey and ScheduleKeyDeletion want the key id, not the ARN.
        self.client.disable_key(KeyId=key_uuid(arn))

    def enable_key(self, arn: str) -> None:
        self.client.enable_key(KeyId=key_uuid(arn))

    def schedule_key_deletion(self, arn: str) -> None:
        self.client.schedule_key_deletion(KeyId=key_uuid(arn), PendingWindowInDays=7)


def key_uuid(arn: str) -> str:
    """The key id at the end of a key ARN."""
    return arn.rsplit("/", 1)[-1]


@contextmanager
def running_moto_kms(region: str = REGION) -> Iterator[MotoKms]:
    """Start a moto server, create one KMS key, yield both; stop the server after."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    # werkzeug logs every request at INFO; keep test output readable.
    werkzeug_logger = logging.getLogger("werkzeug")
    previous_level = werkzeug_logger.level
    werkzeug_logger.setLevel(logging.WARNING)
    server.start()
    client: Any = None
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.session.Session(**FAKE_CREDENTIALS).client("kms", region_name=region, endpoint_url=endpoint)
        kms = MotoKms(endpoint_url=endpoint, key_arn="", region=region, client=client)
        kms.key_arn = kms.create_key()
        yield kms
    finally:
        if client is not None:
            client.close()
        server.stop()
        werkzeug_logger.setLevel(previous_level)
