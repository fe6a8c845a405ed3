"""The AWS KMS encryption backend (`aws_kms`): data keys wrapped by a KMS key.

Configured and registered by plugins/builtin/aws_kms.py, which imports this
module only when the backend is configured.

How it works:

- `wrap` is KMS Encrypt of the 32-byte data key with EncryptionContext
  {workspace_id, secret_id}; the stored key id is the key ARN KMS returns.
  `unwrap` is Decrypt with the same EncryptionContext and KeyId, and refuses a
  result from any other key than the one recorded. KMS itself refuses the
  wrong context, so a wrapped key copied to another secret does not open.
- Key state: KMS refuses a disabled key by itself, but emulators (moto) do
  not, so before each call the backend checks the key with DescribeKey and
  refuses anything whose KeyState is not "Enabled". The answer is cached for
  `state_ttl` seconds (30 s by default): disabling a key takes effect here
  within that time, and a busy server makes one DescribeKey per key per 30 s.
- Rotation: KMS keys rotate their backing material themselves; enable
  automatic key rotation on the key in KMS. `rotate_key()` therefore returns
  the configured key's ARN unchanged. To move data to another key, change
  AWS_KMS_KEY_ID and rewrap: `rewrap` uses KMS ReEncrypt, so the data key
  never leaves KMS.
- boto3 is synchronous: every call runs in a small bounded thread pool, off
  the event loop. Throttling, KMS internal errors and network errors are
  retried by the shared policy (plugins/retries.py: jittered exponential
  backoff, 3 attempts and a 20 s total deadline by default, a Retry-After
  header honoured) before KeyUnavailable; every other KMS error is
  KeyUnavailable at once. Messages name the backend, the key id and the KMS
  error code, never key material.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from plugins.interfaces import BackendStatus, KeyContext, KeyUnavailable, WrappedKey
from plugins.retries import RetriesExhausted, RetryPolicy, Transient, parse_retry_after

logger = logging.getLogger("strongroom.encryption")

NAME = "aws_kms"
DEFAULT_STATE_TTL = 30.0
HEALTH_CONTEXT = {"workspace_id": "-", "secret_id": "health"}

#: KMS error codes worth retrying: the request may succeed a moment later.
RETRYABLE_CODES = frozenset({"ThrottlingException", "KMSInternalException", "DependencyTimeoutException"})
#: botocore network errors, retried like the codes above.
RETRYABLE_ERRORS: tuple[type[BaseException], ...] = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError)

_REASONS = {
    "DisabledException": "is disabled",
    "InvalidCiphertextException": "cannot decrypt this data key (wrong key, wrong context or altered data)",
    "IncorrectKeyException": "did not wrap this data key",
    "AccessDeniedException": "refused access",
    "NotFoundException": "does not exist",
    "KMSInvalidStateException": "is not in a usable state",
    "InvalidKeyUsageException": "cannot encrypt and decrypt",
}


@dataclass(frozen=True)
class _KeyState:
    arn: str
    state: str
    expires: float


class AwsKmsBackend:
    """RotatableBackend over one KMS key (and any key data was wrapped with)."""

    name = NAME

    def __init__(
        self,
        key_id: str,
        region: str,
        endpoint_url: str | None = None,
        *,
        credentials: Mapping[str, str] | None = None,
        client: Any = None,
        state_ttl: float = DEFAULT_STATE_TTL,
        attempts: int | None = None,
        backoff_base: float | None = None,
        backoff_cap: float | None = None,
        retry: RetryPolicy | None = None,
        max_workers: int = 8,
        timeout: float = 10.0,
    ) -> None:
        # `retry` is the whole policy; attempts and backoff_* override its fields.
        self.retry = (retry or RetryPolicy()).updated(
            attempts=attempts, wait_initial=backoff_base, wait_max=backoff_cap
        )
        self.key_id = key_id
        self.region = region
        self.endpoint_url = endpoint_url
        self.state_ttl = state_ttl
        if client is None:
            # Retries are ours (with backoff and clear errors), so botocore makes one attempt.
            config = Config(
                retries={"total_max_attempts": 1, "mode": "standard"},
                connect_timeout=timeout,
                read_timeout=timeout,
                max_pool_connections=max_workers,
            )
            client = boto3.session.Session(**dict(credentials or {})).client(
                "kms", region_name=region, endpoint_url=endpoint_url, config=config
            )
        self._client = client
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="aws-kms")
        self._states: dict[str, _KeyState] = {}
        self._states_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<AwsKmsBackend key={self.key_id} region={self.region}>"

    @property
    def attempts(self) -> int:
        return self.retry.attempts

    # -- EncryptionBackend -------------------------------------------------

    async def wrap(self, data_key: bytes, context: KeyContext) -> WrappedKey:
        await self._require_enabled(self.key_id)
        response = await self._call(
            "encrypt", self.key_id, KeyId=self.key_id, Plaintext=data_key, EncryptionContext=dict(context)
        )
        return WrappedKey(ciphertext=bytes(response["CiphertextBlob"]), key_id=str(response["KeyId"]))

    async def unwrap(self, wrapped: WrappedKey, context: KeyContext) -> bytes:
        await self._require_enabled(wrapped.key_id)
        response = await self._call(
            "decrypt",
            wrapped.key_id,
            CiphertextBlob=wrapped.ciphertext,
            EncryptionContext=dict(context),
            KeyId=wrapped.key_id,
        )
        used = str(response.get("KeyId", ""))
        if used != wrapped.key_id:
            raise KeyUnavailable(f"aws_kms key {wrapped.key_id} did not wrap this data key (KMS used {used})")
        return bytes(response["Plaintext"])

    async def current_key_id(self) -> str:
        return (await self._describe(self.key_id)).arn

    async def health(self) -> BackendStatus:
        key_id: str | None = None
        try:
            state = await self._describe(self.key_id, fresh=True)
            key_id = state.arn
            if state.state != "Enabled":
                return BackendStatus(healthy=False, key_id=key_id, error=_state_message(state.arn, state.state))
            probe = os.urandom(32)
            ok = await self.unwrap(await self.wrap(probe, HEALTH_CONTEXT), HEALTH_CONTEXT) == probe
        except KeyUnavailable as exc:  # our messages are safe to show
            return BackendStatus(healthy=False, key_id=key_id or self.key_id, error=str(exc))
        except Exception as exc:  # health reports, never raises
            return BackendStatus(healthy=False, key_id=key_id or self.key_id, error=type(exc).__name__)
        return BackendStatus(healthy=ok, key_id=key_id, error=None if ok else "round trip failed")

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        close = getattr(self._client, "close", None)
        if close is not None:
            close()

    # -- RotatableBackend --------------------------------------------------

    async def rotate_key(self) -> str:
        """The configured key's ARN, unchanged.

        KMS rotates a key's backing material itself: enable automatic key
        rotation on the key in KMS (old material keeps decrypting). To move to
        another key, change AWS_KMS_KEY_ID and rewrap.
        """
        return await self.current_key_id()

    async def rewrap(self, wrapped: WrappedKey, context: KeyContext) -> WrappedKey:
        """The data key under the configured key, by KMS ReEncrypt: it never leaves KMS."""
        current = await self.current_key_id()
        if wrapped.key_id == current:
            return wrapped
        await self._require_enabled(wrapped.key_id)
        await self._require_enabled(self.key_id)
        response = await self._call(
            "re_encrypt",
            wrapped.key_id,
            CiphertextBlob=wrapped.ciphertext,
            SourceEncryptionContext=dict(context),
            SourceKeyId=wrapped.key_id,
            DestinationKeyId=self.key_id,
            DestinationEncryptionContext=dict(context),
        )
        source = str(response.get("SourceKeyId", ""))
        if source != wrapped.key_id:
            raise KeyUnavailable(f"aws_kms key {wrapped.key_id} did not wrap this data key (KMS used {source})")
        return WrappedKey(ciphertext=bytes(response["CiphertextBlob"]), key_id=str(response["KeyId"]))

    async def generate_key_material(self) -> str | None:
        return None

    # -- internals ---------------------------------------------------------

    async def _describe(self, key_id: str, *, fresh: bool = False) -> _KeyState:
        now = time.monotonic()
        with self._states_lock:
            cached = self._states.get(key_id)
        if cached is not None and not fresh and now < cached.expires:
            return cached
        response = await self._call("describe_key", key_id, KeyId=key_id)
        metadata = response["KeyMetadata"]
        state = _KeyState(
            arn=str(metadata["Arn"]),
            state=str(metadata.get("KeyState") or ("Enabled" if metadata.get("Enabled") else "Disabled")),
            expires=time.monotonic() + self.state_ttl,
        )
        with self._states_lock:
            self._states[key_id] = state
        return state

    async def _require_enabled(self, key_id: str) -> None:
        state = await self._describe(key_id)
        if state.state != "Enabled":
            raise KeyUnavailable(_state_message(key_id, state.state))

    async def _call(self, operation: str, key_id: str, **params: Any) -> dict[str, Any]:
        """One KMS operation off the event loop, retried when transient."""
        method: Callable[..., dict[str, Any]] = getattr(self._client, operation)
        loop = asyncio.get_running_loop()
        try:
            return await self.retry.call(
                lambda: loop.run_in_executor(self._executor, functools.partial(method, **params)),
                _transient,
                label=f"aws_kms key {key_id}",
                log=logger,
            )
        except RetriesExhausted as exc:
            raise KeyUnavailable(f"aws_kms key {key_id} is unavailable: {exc.reason}") from None
        except ClientError as exc:
            code = _error_code(exc)
            reason = _REASONS.get(code, "cannot be used")
            raise KeyUnavailable(f"aws_kms key {key_id} {reason}: {code}") from None
        except NoCredentialsError:
            raise KeyUnavailable(f"aws_kms key {key_id} cannot be used: NoCredentialsError") from None
        except BotoCoreError as exc:
            raise KeyUnavailable(f"aws_kms key {key_id} cannot be used: {type(exc).__name__}") from None
        except RuntimeError:  # the executor is shut down
            raise KeyUnavailable(f"aws_kms key {key_id} is unavailable: backend closed") from None


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "ClientError"))


def _transient(exc: Exception) -> Transient | None:
    """The retry policy's classifier: RETRYABLE_CODES and RETRYABLE_ERRORS, named by code or type."""
    if isinstance(exc, ClientError):
        code = _error_code(exc)
        if code not in RETRYABLE_CODES:
            return None
        headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        return Transient(code, parse_retry_after(headers.get("retry-after")))
    if isinstance(exc, RETRYABLE_ERRORS):
        return Transient(type(exc).__name__)
    return None


def _state_message(key_id: str, state: str) -> str:
    if state == "Disabled":
        return f"aws_kms key {key_id} is disabled"
    return f"aws_kms key {key_id} is disabled (key state {state})"
