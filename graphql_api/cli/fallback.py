"""`strongroom run --fallback FILE`: the last values fetched, encrypted, for
when the server cannot be reached.

The file (mode 0600, replaced atomically) holds the values sealed with
AES-256-GCM under a key derived (HKDF-SHA256, a fresh random salt each
write) from the API token, the workspace bound as associated data: without
the token it is noise, and a file copied to another workspace's run does not
open. Nothing in it is plaintext but the workspace id and the time saved.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from graphql_api.client import SecretValue

FORMAT = "strongroom-run-fallback/1"
_INFO = b"strongroom run --fallback v1"


class FallbackError(Exception):
    """The file is missing, unreadable, or does not open with this token and workspace."""


@dataclass(frozen=True)
class Saved:
    values: list[SecretValue]
    saved_at: str


def _key(token: str, salt: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=salt, info=_INFO).derive(token.encode("utf-8"))


def _associated(workspace: str, saved_at: str) -> bytes:
    return json.dumps({"format": FORMAT, "savedAt": saved_at, "workspace": workspace}, sort_keys=True).encode()


def save(path: Path, token: str, workspace: str, values: Sequence[SecretValue]) -> None:
    saved_at = datetime.now(UTC).isoformat(timespec="seconds")
    salt, nonce = os.urandom(16), os.urandom(12)
    plaintext = json.dumps(
        [{"secretId": v.secret_id, "name": v.name, "version": v.version, "value": v.value} for v in values]
    ).encode("utf-8")
    sealed = AESGCM(_key(token, salt)).encrypt(nonce, plaintext, _associated(workspace, saved_at))
    document = {
        "format": FORMAT,
        "workspace": workspace,
        "savedAt": saved_at,
        "salt": base64.b64encode(salt).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(sealed).decode(),
    }
    directory = path.parent if str(path.parent) else Path(".")
    # mkstemp creates the file 0600; it becomes FILE only once complete.
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(document, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def load(path: Path, token: str, workspace: str) -> Saved:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FallbackError(f"{path} does not exist (it is written after the first successful fetch)") from None
    except (OSError, ValueError) as exc:
        raise FallbackError(f"cannot read {path} ({type(exc).__name__})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise FallbackError(f"{path} is not a strongroom run --fallback file")
    if document.get("workspace") != workspace:
        raise FallbackError(f"{path} holds workspace {document.get('workspace')!r}, not {workspace!r}")
    try:
        saved_at = str(document["savedAt"])
        salt = base64.b64decode(document["salt"], validate=True)
        nonce = base64.b64decode(document["nonce"], validate=True)
        sealed = base64.b64decode(document["ciphertext"], validate=True)
        plaintext = AESGCM(_key(token, salt)).decrypt(nonce, sealed, _associated(workspace, saved_at))
    except (KeyError, binascii.Error, ValueError, InvalidTag):
        raise FallbackError(f"{path} does not open with this token (saved with another token, or altered)") from None
    rows = json.loads(plaintext)
    return Saved([SecretValue.from_api(row) for row in rows], saved_at)
