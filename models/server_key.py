"""The server key: 32 random bytes, wrapped by an encryption backend.

From it the server derives (HKDF, one label each) the audit chain's HMAC key,
the Ed25519 key that signs audit checkpoints and the key of value digests.
Only the wrapped form is stored, exactly like a secret's data key, so reading
or writing the database alone can neither forge the audit trail nor check a
guessed value against a digest.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class ServerKey(Model):
    id = fields.CharField(primary_key=True, max_length=32)
    backend = fields.CharField(max_length=64)
    key_id = fields.CharField(max_length=255)
    wrapped_key = fields.BinaryField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "server_key"

    def __repr__(self) -> str:
        return f"<ServerKey {self.id} {self.backend}:{self.key_id}>"
