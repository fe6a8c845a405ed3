"""The builtin AWS KMS backend, against a moto server (tests/fakes/moto_kms.py)."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import pytest_asyncio
import stamina
from botocore.stub import Stubber

from graphql_api.services.envelope import Backends, Envelope
from graphql_api.settings import Settings
from plugins import ConfigError
from plugins.builtin import aws_kms, aws_kms_backend
from plugins.builtin.aws_kms_backend import AwsKmsBackend
from plugins.interfaces import BackendStatus, KeyUnavailable, PluginConfig, RotatableBackend, WrappedKey
from plugins.manager import build_plugin_manager, collect_encryption_backends
from plugins.retries import RetryPolicy
from tests.fakes.moto_kms import FAKE_CREDENTIALS, MotoKms, running_moto_kms
from tests.plugins.key_material import assert_no_key_material
from tests.process import closed_port_url

CONTEXT = {"workspace_id": "default", "secret_id": "00000000-0000-0000-0000-000000000001"}
OTHER_SECRET = {"workspace_id": "default", "secret_id": "00000000-0000-0000-0000-000000000002"}
FAST = {"backoff_base": 0.001, "backoff_cap": 0.005}

MakeBackend = Callable[..., AwsKmsBackend]


@pytest.fixture(scope="module")
def kms() -> Iterator[MotoKms]:
    with running_moto_kms() as server:
        yield server


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """moto accepts any credentials; keep the developer's own AWS files out of the way."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(variable, raising=False)


@pytest_asyncio.fixture
async def make_backend(kms: MotoKms) -> AsyncIterator[MakeBackend]:
    made: list[AwsKmsBackend] = []

    def make(key_id: str | None = None, **overrides: Any) -> AwsKmsBackend:
        arguments: dict[str, Any] = {"region": kms.region, "endpoint_url": kms.endpoint_url, **FAST, **overrides}
        backend = AwsKmsBackend(key_id or kms.key_arn, **arguments)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.aclose()


@pytest.fixture
def backend(make_backend: MakeBackend) -> AwsKmsBackend:
    return make_backend()


def record_operations(backend: AwsKmsBackend) -> list[str]:
    """The KMS operations the backend's client sends, in order."""
    operations: list[str] = []

    def record(model: Any, **_: Any) -> None:
        operations.append(model.name)

    backend._client.meta.events.register("before-call.kms.*", record)
    return operations


# -- the contract ------------------------------------------------------------


def test_is_a_rotatable_backend(backend: AwsKmsBackend) -> None:
    assert isinstance(backend, RotatableBackend)
    assert backend.name == "aws_kms"


@pytest.mark.asyncio
async def test_wrap_unwrap_round_trip(kms: MotoKms, backend: AwsKmsBackend) -> None:
    data_key = os.urandom(32)

    wrapped = await backend.wrap(data_key, CONTEXT)

    assert wrapped.key_id == kms.key_arn == await backend.current_key_id()
    assert data_key not in wrapped.ciphertext
    assert await backend.unwrap(wrapped, CONTEXT) == data_key


@pytest.mark.asyncio
async def test_wrap_sends_exactly_the_context_as_encryption_context(kms: MotoKms, backend: AwsKmsBackend) -> None:
    data_key = os.urandom(32)
    wrapped = await backend.wrap(data_key, CONTEXT)

    opened = kms.client.decrypt(CiphertextBlob=wrapped.ciphertext, EncryptionContext=CONTEXT)

    assert opened["Plaintext"] == data_key
    with pytest.raises(kms.client.exceptions.InvalidCiphertextException):
        kms.client.decrypt(CiphertextBlob=wrapped.ciphertext)
    with pytest.raises(kms.client.exceptions.InvalidCiphertextException):
        kms.client.decrypt(CiphertextBlob=wrapped.ciphertext, EncryptionContext={**CONTEXT, "extra": "x"})


@pytest.mark.asyncio
async def test_key_configured_by_alias_or_id_stores_the_arn(kms: MotoKms, make_backend: MakeBackend) -> None:
    alias = f"alias/strongroom-{uuid.uuid4().hex[:8]}"
    kms.client.create_alias(AliasName=alias, TargetKeyId=kms.key_arn)
    key_uuid = kms.key_arn.rsplit("/", 1)[-1]

    for configured in (alias, key_uuid):
        backend = make_backend(configured)
        wrapped = await backend.wrap(os.urandom(32), CONTEXT)
        assert wrapped.key_id == kms.key_arn
        assert await backend.current_key_id() == kms.key_arn


@pytest.mark.asyncio
async def test_unwrap_for_another_secret_is_refused(kms: MotoKms, backend: AwsKmsBackend) -> None:
    data_key = os.urandom(32)
    wrapped = await backend.wrap(data_key, CONTEXT)

    with pytest.raises(KeyUnavailable, match=f"aws_kms key {kms.key_arn} .*InvalidCiphertextException") as caught:
        await backend.unwrap(wrapped, OTHER_SECRET)

    assert_no_key_material(caught.value, data_key)


@pytest.mark.asyncio
async def test_unwrap_refuses_a_wrapped_key_recorded_under_another_key(kms: MotoKms, make_backend: MakeBackend) -> None:
    other_arn = kms.create_key()
    wrapped = await make_backend().wrap(os.urandom(32), CONTEXT)

    with pytest.raises(KeyUnavailable, match=f"aws_kms key {other_arn} "):
        await make_backend(other_arn).unwrap(WrappedKey(wrapped.ciphertext, other_arn), CONTEXT)


@pytest.mark.asyncio
async def test_unwrap_refuses_when_kms_reports_another_key(kms: MotoKms, make_backend: MakeBackend) -> None:
    backend = make_backend()
    wrapped = await backend.wrap(os.urandom(32), CONTEXT)
    other_arn = kms.create_key()

    def answer_with_another_key(parsed: dict[str, Any], **_: Any) -> None:
        parsed["KeyId"] = other_arn

    backend._client.meta.events.register("after-call.kms.Decrypt", answer_with_another_key)

    with pytest.raises(KeyUnavailable, match=f"did not wrap this data key \\(KMS used {other_arn}\\)"):
        await backend.unwrap(wrapped, CONTEXT)


@pytest.mark.asyncio
async def test_health_is_healthy(kms: MotoKms, backend: AwsKmsBackend) -> None:
    assert await backend.health() == BackendStatus(healthy=True, key_id=kms.key_arn, error=None)


@pytest.mark.asyncio
async def test_generate_key_material_is_none(backend: AwsKmsBackend) -> None:
    assert await backend.generate_key_material() is None


@pytest.mark.asyncio
async def test_envelope_seals_and_opens_through_kms(kms: MotoKms, backend: AwsKmsBackend) -> None:
    envelope = Envelope(Backends({"aws_kms": backend}, "aws_kms"))
    secret_id = uuid.uuid4()

    sealed = await envelope.seal("hunter2", backend=backend, workspace_id="default", secret_id=secret_id, version=1)
    opened = await envelope.open(
        ciphertext=sealed.ciphertext,
        wrapped_key=sealed.wrapped_key,
        backend_name=sealed.backend,
        key_id=sealed.key_id,
        workspace_id="default",
        secret_id=secret_id,
        version=1,
    )

    assert sealed.backend == "aws_kms" and sealed.key_id == kms.key_arn
    assert opened == "hunter2"


# -- rotation ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_rotate_key_returns_the_configured_key(kms: MotoKms, backend: AwsKmsBackend) -> None:
    assert await backend.rotate_key() == kms.key_arn


@pytest.mark.asyncio
async def test_rewrap_to_a_newly_configured_key_uses_reencrypt(kms: MotoKms, make_backend: MakeBackend) -> None:
    data_key = os.urandom(32)
    old = await make_backend().wrap(data_key, CONTEXT)
    new_arn = kms.create_key()
    backend = make_backend(new_arn)
    operations = record_operations(backend)

    rewrapped = await backend.rewrap(old, CONTEXT)

    assert rewrapped.key_id == new_arn != old.key_id
    assert "ReEncrypt" in operations
    assert "Decrypt" not in operations and "Encrypt" not in operations  # the data key never left KMS
    assert await backend.unwrap(rewrapped, CONTEXT) == data_key
    assert await backend.unwrap(old, CONTEXT) == data_key  # the old key still opens old data
    with pytest.raises(KeyUnavailable, match="InvalidCiphertextException"):
        await backend.unwrap(rewrapped, OTHER_SECRET)  # still bound to its secret


@pytest.mark.asyncio
async def test_rewrap_under_the_current_key_is_unchanged(backend: AwsKmsBackend) -> None:
    wrapped = await backend.wrap(os.urandom(32), CONTEXT)

    assert await backend.rewrap(wrapped, CONTEXT) is wrapped


@pytest.mark.asyncio
async def test_rewrap_with_the_wrong_context_is_refused(kms: MotoKms, make_backend: MakeBackend) -> None:
    data_key = os.urandom(32)
    old = await make_backend().wrap(data_key, CONTEXT)

    with pytest.raises(KeyUnavailable, match="InvalidCiphertextException") as caught:
        await make_backend(kms.create_key()).rewrap(old, OTHER_SECRET)

    assert_no_key_material(caught.value, data_key)


# -- key state -----------------------------------------------------------------


@pytest.mark.asyncio
async def test_disabled_key_is_refused_by_our_own_check(kms: MotoKms, make_backend: MakeBackend) -> None:
    arn = kms.create_key()
    backend = make_backend(arn, state_ttl=0)
    data_key = os.urandom(32)
    wrapped = await backend.wrap(data_key, CONTEXT)
    kms.disable_key(arn)
    try:
        # moto itself would still decrypt: the refusal is ours.
        assert kms.client.decrypt(CiphertextBlob=wrapped.ciphertext, EncryptionContext=CONTEXT)["Plaintext"] == data_key
        with pytest.raises(KeyUnavailable, match=f"^aws_kms key {arn} is disabled$"):
            await backend.unwrap(wrapped, CONTEXT)
        with pytest.raises(KeyUnavailable, match=f"^aws_kms key {arn} is disabled$"):
            await backend.wrap(data_key, CONTEXT)
        status = await backend.health()
        assert status == BackendStatus(healthy=False, key_id=arn, error=f"aws_kms key {arn} is disabled")
    finally:
        kms.enable_key(arn)
    assert await backend.unwrap(wrapped, CONTEXT) == data_key


@pytest.mark.asyncio
async def test_rewrap_from_a_disabled_key_is_refused(kms: MotoKms, make_backend: MakeBackend) -> None:
    old_arn = kms.create_key()
    old = await make_backend(old_arn).wrap(os.urandom(32), CONTEXT)
    kms.disable_key(old_arn)

    with pytest.raises(KeyUnavailable, match=f"aws_kms key {old_arn} is disabled"):
        await make_backend(kms.create_key(), state_ttl=0).rewrap(old, CONTEXT)


@pytest.mark.asyncio
async def test_key_state_is_cached_for_the_ttl(kms: MotoKms, make_backend: MakeBackend) -> None:
    arn = kms.create_key()
    backend = make_backend(arn)  # default TTL: 30 s
    assert backend.state_ttl == aws_kms_backend.DEFAULT_STATE_TTL == 30.0
    operations = record_operations(backend)
    await backend.wrap(os.urandom(32), CONTEXT)
    kms.disable_key(arn)

    await backend.wrap(os.urandom(32), CONTEXT)  # still within the TTL

    assert operations.count("DescribeKey") == 1
    status = await backend.health()  # health always asks KMS afresh
    assert status.healthy is False and status.error == f"aws_kms key {arn} is disabled"
    with pytest.raises(KeyUnavailable, match="is disabled"):
        await backend.wrap(os.urandom(32), CONTEXT)


@pytest.mark.asyncio
async def test_key_pending_deletion_is_refused(kms: MotoKms, make_backend: MakeBackend) -> None:
    arn = kms.create_key()
    kms.schedule_key_deletion(arn)

    with pytest.raises(KeyUnavailable, match=f"aws_kms key {arn} is disabled \\(key state PendingDeletion\\)"):
        await make_backend(arn).wrap(os.urandom(32), CONTEXT)


@pytest.mark.asyncio
async def test_unknown_key_is_reported(make_backend: MakeBackend) -> None:
    backend = make_backend("alias/does-not-exist")

    with pytest.raises(KeyUnavailable, match="aws_kms key alias/does-not-exist does not exist: NotFoundException"):
        await backend.wrap(os.urandom(32), CONTEXT)
    status = await backend.health()
    assert status.healthy is False and status.error is not None and "NotFoundException" in status.error


# -- retries -------------------------------------------------------------------


def stubbed_backend(make_backend: MakeBackend, key_arn: str) -> tuple[AwsKmsBackend, Stubber]:
    client = boto3.session.Session(**FAKE_CREDENTIALS).client("kms", region_name="us-east-1")
    return make_backend(key_arn, client=client), Stubber(client)


def describe_response(arn: str) -> dict[str, Any]:
    return {
        "KeyMetadata": {
            "KeyId": arn.rsplit("/", 1)[-1],
            "Arn": arn,
            "KeyState": "Enabled",
            "Enabled": True,
            "CreationDate": datetime.now(UTC),
        }
    }


ARN = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"


@pytest.mark.asyncio
@pytest.mark.parametrize("code", ["ThrottlingException", "KMSInternalException", "DependencyTimeoutException"])
async def test_a_transient_error_is_retried(make_backend: MakeBackend, code: str) -> None:
    backend, stubber = stubbed_backend(make_backend, ARN)
    stubber.add_client_error("describe_key", service_error_code=code, http_status_code=400)
    stubber.add_response("describe_key", describe_response(ARN))
    stubber.add_client_error("encrypt", service_error_code=code, http_status_code=400)
    stubber.add_response("encrypt", {"CiphertextBlob": b"wrapped", "KeyId": ARN})

    with stubber:
        wrapped = await backend.wrap(os.urandom(32), CONTEXT)

    assert wrapped == WrappedKey(ciphertext=b"wrapped", key_id=ARN)
    stubber.assert_no_pending_responses()


@pytest.mark.asyncio
async def test_persistent_throttling_ends_in_key_unavailable(make_backend: MakeBackend) -> None:
    backend, stubber = stubbed_backend(make_backend, ARN)
    for _ in range(backend.attempts):
        stubber.add_client_error("describe_key", service_error_code="ThrottlingException", http_status_code=400)

    with stubber, pytest.raises(KeyUnavailable, match=f"^aws_kms key {ARN} is unavailable: ThrottlingException$"):
        await backend.wrap(os.urandom(32), CONTEXT)

    stubber.assert_no_pending_responses()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "code",
    [
        "DisabledException",
        "InvalidCiphertextException",
        "AccessDeniedException",
        "NotFoundException",
        "KMSInvalidStateException",
        "IncorrectKeyException",
    ],
)
async def test_other_errors_are_not_retried(make_backend: MakeBackend, code: str) -> None:
    backend, stubber = stubbed_backend(make_backend, ARN)
    stubber.add_response("describe_key", describe_response(ARN))
    stubber.add_client_error("decrypt", service_error_code=code, http_status_code=400)
    data_key = os.urandom(32)

    with stubber, pytest.raises(KeyUnavailable, match=f"^aws_kms key {ARN} .*: {code}$") as caught:
        await backend.unwrap(WrappedKey(b"wrapped", ARN), CONTEXT)

    stubber.assert_no_pending_responses()  # one call, and an unexpected second one would fail the stub
    assert_no_key_material(caught.value, data_key)


@pytest.mark.asyncio
async def test_unreachable_endpoint_is_retried_then_unavailable_and_unhealthy(make_backend: MakeBackend) -> None:
    backend = make_backend(ARN, endpoint_url=closed_port_url(), timeout=2.0)
    operations = record_operations(backend)

    with pytest.raises(KeyUnavailable, match=f"^aws_kms key {ARN} is unavailable: EndpointConnectionError$"):
        await backend.wrap(os.urandom(32), CONTEXT)
    assert operations == ["DescribeKey"] * backend.attempts

    status = await backend.health()
    assert status.healthy is False and status.error is not None and "EndpointConnectionError" in status.error


@pytest.mark.asyncio
async def test_a_retry_after_longer_than_the_deadline_gives_up_at_once(make_backend: MakeBackend) -> None:
    backend, stubber = stubbed_backend(make_backend, ARN)
    backend.retry = RetryPolicy(attempts=5, deadline=5.0)
    stubber.add_client_error(
        "describe_key",
        service_error_code="ThrottlingException",
        http_status_code=400,
        response_meta={"HTTPHeaders": {"retry-after": "60"}},
    )

    with stubber, pytest.raises(KeyUnavailable) as raised:
        await backend.wrap(os.urandom(32), CONTEXT)

    assert str(raised.value) == f"aws_kms key {ARN} is unavailable: ThrottlingException (retry deadline of 5s reached)"
    stubber.assert_no_pending_responses()  # one call: a second would have found no stubbed answer


@pytest.mark.asyncio
async def test_a_retry_after_is_waited_for(make_backend: MakeBackend, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=aws_kms_backend.logger.name)
    backend, stubber = stubbed_backend(make_backend, ARN)
    stubber.add_client_error(
        "describe_key",
        service_error_code="ThrottlingException",
        http_status_code=400,
        response_meta={"HTTPHeaders": {"retry-after": "3"}},
    )
    stubber.add_response("describe_key", describe_response(ARN))

    with stamina.set_testing(True, attempts=100, cap=True), stubber:  # the computed wait is logged, not slept
        assert await backend.current_key_id() == ARN

    (message,) = [r.getMessage() for r in caplog.records if r.name == aws_kms_backend.logger.name]
    assert message == f"aws_kms key {ARN}: ThrottlingException, retry 1 of 2 in 3.00s"  # not the 0.001 s backoff


@pytest.mark.asyncio
async def test_closed_backend_refuses(make_backend: MakeBackend) -> None:
    backend = make_backend()
    await backend.aclose()

    with pytest.raises(KeyUnavailable, match="backend closed"):
        await backend.wrap(os.urandom(32), CONTEXT)


# -- registration --------------------------------------------------------------


def collect(environ: dict[str, str], tmp_path: Path, *, with_settings: bool = True) -> dict[str, Any]:
    settings = Settings.from_environ(environ, env_file=tmp_path / "none") if with_settings else None
    config = PluginConfig(environ=environ, data_dir=tmp_path, settings=settings)
    return dict(collect_encryption_backends(build_plugin_manager(load_entry_points=False), config))


@pytest.mark.asyncio
async def test_aws_kms_is_available_only_when_configured(kms: MotoKms, tmp_path: Path) -> None:
    assert "aws_kms" not in collect({"AWS_REGION": "us-east-1"}, tmp_path)

    environ = {"AWS_KMS_KEY_ID": kms.key_arn, "AWS_REGION": kms.region, "AWS_ENDPOINT_URL_KMS": kms.endpoint_url}
    backend = collect(environ, tmp_path)["aws_kms"]
    try:
        assert isinstance(backend, AwsKmsBackend)
        assert (backend.key_id, backend.region, backend.endpoint_url) == (kms.key_arn, kms.region, kms.endpoint_url)
        data_key = os.urandom(32)
        assert await backend.unwrap(await backend.wrap(data_key, CONTEXT), CONTEXT) == data_key
    finally:
        await backend.aclose()


@pytest.mark.asyncio
async def test_aws_kms_registration_without_settings_reads_the_environment(tmp_path: Path) -> None:
    backend = collect({"AWS_KMS_KEY_ID": "alias/app", "AWS_REGION": "eu-west-1"}, tmp_path, with_settings=False)[
        "aws_kms"
    ]
    try:
        assert isinstance(backend, AwsKmsBackend)
        assert (backend.key_id, backend.region, backend.endpoint_url) == ("alias/app", "eu-west-1", None)
    finally:
        await backend.aclose()


@pytest.mark.asyncio
@pytest.mark.parametrize("with_settings", [True, False])
async def test_retry_variables_configure_the_registered_backend(tmp_path: Path, with_settings: bool) -> None:
    environ = {
        "AWS_KMS_KEY_ID": "alias/app",
        "AWS_REGION": "eu-west-1",
        "AWS_KMS_RETRY_ATTEMPTS": "6",
        "AWS_KMS_RETRY_DEADLINE": "45",
        "AWS_KMS_RETRY_BACKOFF": "0.5",
        "AWS_KMS_RETRY_BACKOFF_MAX": "8",
    }
    backend = collect(environ, tmp_path, with_settings=with_settings)["aws_kms"]
    try:
        assert backend.retry == RetryPolicy(attempts=6, deadline=45.0, wait_initial=0.5, wait_max=8.0)
        assert backend.attempts == 6
    finally:
        await backend.aclose()


@pytest.mark.parametrize(("variable", "value"), [("AWS_KMS_RETRY_ATTEMPTS", "11"), ("AWS_KMS_RETRY_BACKOFF", "-1")])
def test_a_malformed_retry_variable_names_it(tmp_path: Path, variable: str, value: str) -> None:
    environ = {"AWS_KMS_KEY_ID": "alias/app", "AWS_REGION": "eu-west-1", variable: value}
    with pytest.raises(ConfigError) as raised:
        collect(environ, tmp_path)
    assert raised.value.variable == variable


@pytest.mark.parametrize("with_settings", [True, False])
def test_key_without_region_names_the_variable(tmp_path: Path, with_settings: bool) -> None:
    with pytest.raises(ValueError, match="^AWS_REGION: must be set with AWS_KMS_KEY_ID$"):
        collect({"AWS_KMS_KEY_ID": "alias/app"}, tmp_path, with_settings=with_settings)


def test_credentials_from_the_env_file_are_passed_to_boto3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    from_env_file = {"AWS_ACCESS_KEY_ID": "AKIAFROMDOTENV", "AWS_SECRET_ACCESS_KEY": "s3cret", "AWS_SESSION_TOKEN": "t"}

    assert aws_kms._credentials(from_env_file) == {
        "aws_access_key_id": "AKIAFROMDOTENV",
        "aws_secret_access_key": "s3cret",
        "aws_session_token": "t",
    }
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMDOTENV")
    assert aws_kms._credentials(from_env_file) is None  # boto3's default chain sees them anyway
    assert aws_kms._credentials({}) is None
