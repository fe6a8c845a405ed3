"""Checking that an error never carries a data key, in any usual encoding."""

from __future__ import annotations

import base64


def assert_no_key_material(exc: BaseException, data_key: bytes) -> None:
    text = str(exc)
    for form in (
        data_key.hex(),
        base64.b64encode(data_key).decode(),
        base64.urlsafe_b64encode(data_key).decode(),
        repr(data_key),
    ):
        assert form not in text
