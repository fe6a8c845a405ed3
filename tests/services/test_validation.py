"""Input rules: each rejection is a BadUserInput naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from graphql_api.errors import BadUserInput
from graphql_api.services import validation


@pytest.mark.parametrize(
    "name",
    ["A", "_", "DATABASE_URL", "_private", "a1_b2", "x" * 128, "A" + "9" * 127],
)
def test_secret_name_accepted(name: str) -> None:
    assert validation.secret_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "x" * 129, "1PASSWORD", "MY-KEY", "MY KEY", "MY.KEY", "CLÉ", "ПАРОЛЬ", "A\n", "\nA", " A"],
    ids=[
        "empty",
        "129-chars",
        "leading-digit",
        "dash",
        "space",
        "dot",
        "accent",
        "cyrillic",
        "trailing-newline",
        "leading-newline",
        "leading-space",
    ],
)
def test_secret_name_rejected(name: str) -> None:
    with pytest.raises(BadUserInput) as caught:
        validation.secret_name(name)

    assert caught.value.field == "input.name"


def test_secret_name_uses_the_given_field() -> None:
    with pytest.raises(BadUserInput) as caught:
        validation.secret_name("1", field="input.newName")

    assert caught.value.field == "input.newName"


@pytest.mark.parametrize("value", ["default", "a", "0", "team-a_prod", "a" * 63])
def test_workspace_id_accepted(value: str) -> None:
    assert validation.workspace_id(value) == value


@pytest.mark.parametrize(
    "value",
    ["", "a" * 64, "Default", "-team", "_team", "team\n", "team a", "équipe", "team/a"],
    ids=[
        "empty",
        "64-chars",
        "uppercase",
        "leading-dash",
        "leading-underscore",
        "trailing-newline",
        "space",
        "accent",
        "slash",
    ],
)
def test_workspace_id_rejected(value: str) -> None:
    with pytest.raises(BadUserInput) as caught:
        validation.workspace_id(value)

    assert caught.value.field == "workspaceId"


@pytest.mark.parametrize(
    "value",
    ["", "x" * 65536, "€" * 21845 + "x", "line\r\n\x00"],
    ids=["empty", "65536-ascii", "65536-bytes-of-3-byte-chars", "control-chars"],
)
def test_secret_value_accepted(value: str) -> None:
    assert validation.secret_value(value) == value


@pytest.mark.parametrize(
    "value",
    ["x" * 65537, "€" * 21846],
    ids=["65537-ascii", "21846-chars-65538-bytes"],
)
def test_secret_value_over_the_byte_limit_rejected(value: str) -> None:
    with pytest.raises(BadUserInput) as caught:
        validation.secret_value(value)

    assert caught.value.field == "input.value"
    assert "65536" in caught.value.message


def test_secret_value_with_lone_surrogate_rejected_without_echo() -> None:
    value = "pass\ud800word"

    with pytest.raises(BadUserInput) as caught:
        validation.secret_value(value)

    assert caught.value.field == "input.value"
    assert "\ud800" not in caught.value.message
    assert "pass" not in caught.value.message


def test_tags_limits_accepted() -> None:
    fifty = [f"tag{i}" for i in range(50)]

    assert validation.tags(fifty) == fifty
    assert validation.tags(["t" * 64]) == ["t" * 64]
    assert validation.tags(None) == []


def test_tags_duplicates_collapse_keeping_order() -> None:
    assert validation.tags(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ([f"tag{i}" for i in range(51)], "input.tags"),
        (["ok", "t" * 65], "input.tags[1]"),
        ([""], "input.tags[0]"),
        (["ok", "ok2", "   "], "input.tags[2]"),
        (["bad\ntag"], "input.tags[0]"),
    ],
    ids=["51-tags", "65-chars", "empty", "blank", "control-char"],
)
def test_tags_rejected(values: list[str], field: str) -> None:
    with pytest.raises(BadUserInput) as caught:
        validation.tags(values)

    assert caught.value.field == field


def test_metadata_accepted() -> None:
    # {"k":"…"} is 8 bytes of JSON around the string.
    at_limit = {"k": "x" * (16 * 1024 - 8)}

    assert validation.metadata(at_limit) == at_limit
    assert validation.metadata({"nested": {"list": [1, 2.5, None, True]}}) == {"nested": {"list": [1, 2.5, None, True]}}
    assert validation.metadata(None) == {}


@pytest.mark.parametrize(
    "value",
    [["a", "b"], "text", 42, {"k": "x" * (16 * 1024 - 7)}, {"k": "é" * (8 * 1024)}, {"k": {1, 2}}],
    ids=["list", "string", "number", "16KiB-plus-1", "2-byte-chars-over", "not-json"],
)
def test_metadata_rejected(value: Any) -> None:
    with pytest.raises(BadUserInput) as caught:
        validation.metadata(value)

    assert caught.value.field == "input.metadata"


def test_usage_limit() -> None:
    assert validation.usage("u" * 1000) == "u" * 1000
    assert validation.usage(None) is None

    with pytest.raises(BadUserInput) as caught:
        validation.usage("u" * 1001)

    assert caught.value.field == "input.usage"
