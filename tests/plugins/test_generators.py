"""The builtin `random` value generator (plugins/builtin/generators.py)."""

from __future__ import annotations

import base64
import binascii
import math
import re
import string
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pluggy
import pytest

from models.enums import SecretType
from plugins import hookspecs
from plugins.builtin import generators
from plugins.builtin.generators import (
    ALPHABETS,
    MAX_VALUE_BYTES,
    RandomSecretGenerator,
    generate_value,
    register_value_generators,
)
from plugins.interfaces import GenerationRequest, PluginConfig, ValueGenerator

SERVED = ("PASSWORD", "JWT_SECRET", "ENCRYPTION_KEY", "WEBHOOK_SECRET")
PRINTABLE_SAFE = set(ALPHABETS["ascii-printable"])
BASE64URL = set(string.ascii_letters + string.digits + "-_")


def request(secret_type: str = "PASSWORD", rotation: Any = None, **metadata: Any) -> GenerationRequest:
    if rotation is not None:
        metadata["rotation"] = rotation
    return GenerationRequest(
        workspace_id="default",
        secret_id="00000000-0000-0000-0000-000000000001",
        name="db-password",
        secret_type=secret_type,
        metadata=metadata,
    )


def classes(value: str) -> set[str]:
    found = set()
    for c in value:
        if c in string.ascii_lowercase:
            found.add("lower")
        elif c in string.ascii_uppercase:
            found.add("upper")
        elif c in string.digits:
            found.add("digit")
        else:
            found.add("symbol")
    return found


# -- registration and protocol ------------------------------------------------


def test_hookimpl_registers_one_generator_serving_the_four_types(tmp_path: Path) -> None:
    registered = list(register_value_generators(PluginConfig(environ={}, data_dir=tmp_path)))
    assert len(registered) == 1
    generator = registered[0]
    assert isinstance(generator, ValueGenerator)
    assert generator.name == "random"
    assert generator.secret_types == frozenset(SERVED)
    assert all(t in {s.value for s in SecretType} for t in generator.secret_types)


def test_registered_trylast_through_pluggy(tmp_path: Path) -> None:
    # trylast: a third-party generator runs first and can take over a type.
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    manager.register(generators)
    (impl,) = manager.hook.register_value_generators.get_hookimpls()
    assert impl.trylast
    (result,) = manager.hook.register_value_generators(config=PluginConfig(environ={}, data_dir=tmp_path))
    assert [g.name for g in result] == ["random"]


@pytest.mark.asyncio
async def test_generate_through_the_protocol_with_enum_or_string_types() -> None:
    generator = RandomSecretGenerator()
    value = await generator.generate(request("ENCRYPTION_KEY"))
    assert len(base64.b64decode(value, validate=True)) == 32
    assert len(await generator.generate(request(SecretType.PASSWORD))) == 32


@pytest.mark.asyncio
async def test_unserved_type_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^rotation: .*SSH_KEY"):
        await RandomSecretGenerator().generate(request("SSH_KEY"))


# -- defaults -----------------------------------------------------------------


def test_password_default() -> None:
    value = generate_value("PASSWORD", {})
    assert len(value) == 32
    assert set(value) <= PRINTABLE_SAFE
    assert classes(value) == {"lower", "upper", "digit", "symbol"}
    assert not set(value) & set("'\"`\\ \t\n")


def test_safe_printable_alphabet_is_visible_ascii_without_quotes_or_backslash() -> None:
    visible = {chr(c) for c in range(0x21, 0x7F)}
    assert set("'\"`\\").isdisjoint(PRINTABLE_SAFE)
    assert visible - set("'\"`\\") == PRINTABLE_SAFE
    assert len(ALPHABETS["ascii-printable"]) == len(PRINTABLE_SAFE) == 90


def test_jwt_secret_default() -> None:
    value = generate_value("JWT_SECRET", {})
    assert len(value) == 64
    assert set(value) <= BASE64URL


def test_encryption_key_default_is_32_bytes_standard_base64() -> None:
    value = generate_value("ENCRYPTION_KEY", {})
    assert len(value) == 44 and value.endswith("=")
    assert len(base64.b64decode(value, validate=True)) == 32


def test_webhook_secret_default() -> None:
    value = generate_value("WEBHOOK_SECRET", {})
    assert value.startswith("whsec_")
    encoded = value.removeprefix("whsec_")
    assert len(encoded) == 43 and set(encoded) <= BASE64URL
    assert len(base64.urlsafe_b64decode(encoded + "=")) == 32


@pytest.mark.parametrize("secret_type", SERVED)
def test_values_differ_each_call(secret_type: str) -> None:
    values = {generate_value(secret_type, {}) for _ in range(50)}
    assert len(values) == 50


def test_rotation_absent_or_null_means_defaults() -> None:
    assert len(generate_value("PASSWORD", generators.rotation_options({"owner": "team-a"}))) == 32
    assert generators.rotation_options({"rotation": None}) == {}


# -- options ------------------------------------------------------------------


@pytest.mark.parametrize("secret_type", ["PASSWORD", "JWT_SECRET"])
@pytest.mark.parametrize("length", [16, 48, 4096])
def test_length(secret_type: str, length: int) -> None:
    assert len(generate_value(secret_type, {"length": length})) == length


@pytest.mark.parametrize(
    ("alphabet", "allowed"),
    [
        ("alphanumeric", set(string.ascii_letters + string.digits)),
        ("hex", set("0123456789abcdef")),
        ("base64url", BASE64URL),
        ("ascii-printable", PRINTABLE_SAFE),
        ("ABCDEFGHJK", set("ABCDEFGHJK")),
        ("αβγδεζηθικλμ", set("αβγδεζηθικλμ")),
    ],
)
@pytest.mark.parametrize("secret_type", ["PASSWORD", "JWT_SECRET"])
def test_alphabet(secret_type: str, alphabet: str, allowed: set[str]) -> None:
    value = generate_value(secret_type, {"alphabet": alphabet, "length": 256})
    assert len(value) == 256
    assert set(value) <= allowed
    assert len(set(value)) > len(allowed) // 2  # the whole alphabet is used, not a corner of it


@pytest.mark.parametrize(
    ("alphabet", "check"),
    [
        ("base64", lambda v: len(base64.b64decode(v, validate=True))),
        ("base64url", lambda v: len(base64.urlsafe_b64decode(v + "=" * (-len(v) % 4)))),
        ("hex", lambda v: len(binascii.unhexlify(v))),
    ],
)
@pytest.mark.parametrize("secret_type", ["ENCRYPTION_KEY", "WEBHOOK_SECRET"])
@pytest.mark.parametrize("size", [16, 64, 1024])
def test_bytes_and_encoding(secret_type: str, size: int, alphabet: str, check: Any) -> None:
    value = generate_value(secret_type, {"bytes": size, "alphabet": alphabet, "prefix": ""})
    assert check(value) == size


@pytest.mark.parametrize("secret_type", SERVED)
def test_prefix_is_prepended_and_not_counted(secret_type: str) -> None:
    value = generate_value(secret_type, {"prefix": "sr_live_"})
    assert value.startswith("sr_live_")
    default_length = len(generate_value(secret_type, {"prefix": ""}))
    assert len(value) == default_length + len("sr_live_")


def test_webhook_prefix_can_be_replaced_or_dropped() -> None:
    assert generate_value("WEBHOOK_SECRET", {"prefix": "hook_"}).startswith("hook_")
    assert not generate_value("WEBHOOK_SECRET", {"prefix": ""}).startswith("whsec_")


@pytest.mark.parametrize(
    "required",
    [["lower"], ["upper"], ["digit"], ["symbol"], ["lower", "digit"], ["lower", "upper", "digit", "symbol"]],
)
def test_require_classes_are_honoured(required: list[str]) -> None:
    # A 10-character alphabet with one character of each class: without the
    # retry, most 16-character draws would miss at least one class.
    alphabet = "abcdefgA0!"
    for _ in range(100):
        value = generate_value("PASSWORD", {"alphabet": alphabet, "length": 16, "require": required})
        assert set(required) <= classes(value)


def test_require_empty_turns_the_default_off() -> None:
    # 32 characters of the default alphabet miss every digit with p ~= 0.023:
    # among 2000 unconstrained values some hold no digit (all but p ~= 1e-20).
    values = [generate_value("PASSWORD", {"require": []}) for _ in range(2000)]
    assert any("digit" not in classes(v) for v in values)


def test_explicit_alphabet_has_no_default_requirement() -> None:
    # 16 characters of a digit-heavy alphabet are all digits with p ~= 0.22.
    values = [generate_value("PASSWORD", {"alphabet": "0123456789a", "length": 16}) for _ in range(200)]
    assert any(classes(v) == {"digit"} for v in values)


def test_require_exhausted_names_no_value(monkeypatch: pytest.MonkeyPatch) -> None:
    marker = "nodigitsHEREjustlettersANDsymbols!!!"[:32]
    monkeypatch.setattr(generators, "_draw", lambda alphabet, length: marker)
    with pytest.raises(ValueError, match=r"^rotation\.require: ") as raised:
        generate_value("PASSWORD", {})
    assert marker not in str(raised.value)


def test_require_is_not_position_forcing() -> None:
    """Rejection sampling keeps the result uniform over qualifying values.

    Alphabet of 10 characters with one digit, length 16, require digit: under
    uniform-over-qualifying, P(exactly one digit) = 16 * 0.1 * 0.9**15 /
    (1 - 0.9**16) ~= 0.404. Forcing one digit in and drawing the rest freely
    gives 0.9**15 ~= 0.206. Every position holds the digit equally often.
    """
    alphabet = "abcdefghi0"
    samples = 2000
    values = [
        generate_value("PASSWORD", {"alphabet": alphabet, "length": 16, "require": ["digit"]}) for _ in range(samples)
    ]
    exactly_one = sum(v.count("0") == 1 for v in values) / samples
    expected = 16 * 0.1 * 0.9**15 / (1 - 0.9**16)
    assert abs(exactly_one - expected) < 0.06
    first_digit = sum(v[0] == "0" for v in values) / samples
    last_digit = sum(v[-1] == "0" for v in values) / samples
    per_position = 0.1 / (1 - 0.9**16)  # ~0.123
    assert abs(first_digit - per_position) < 0.05
    assert abs(last_digit - per_position) < 0.05


# -- invalid options ----------------------------------------------------------


RARE_CLASSES_ALPHABET = "".join(chr(0x4E00 + i) for i in range(1022)) + "0A"
INVALID: list[tuple[str, Mapping[str, Any], str]] = [
    ("PASSWORD", {"length": 15}, "length"),
    ("PASSWORD", {"length": 4097}, "length"),
    ("PASSWORD", {"length": "32"}, "length"),
    ("PASSWORD", {"length": True}, "length"),
    ("PASSWORD", {"length": 32.0}, "length"),
    ("JWT_SECRET", {"length": 0}, "length"),
    ("ENCRYPTION_KEY", {"bytes": 15}, "bytes"),
    ("ENCRYPTION_KEY", {"bytes": 1025}, "bytes"),
    ("WEBHOOK_SECRET", {"bytes": "32"}, "bytes"),
    ("ENCRYPTION_KEY", {"length": 32}, "length"),
    ("JWT_SECRET", {"bytes": 32}, "bytes"),
    ("PASSWORD", {"alphabet": "abc"}, "alphabet"),
    ("PASSWORD", {"alphabet": "aabbccddeeffgghhiijj"}, "alphabet"),
    ("PASSWORD", {"alphabet": "abcdefghij "}, "alphabet"),
    ("PASSWORD", {"alphabet": "abcdefghij\n"}, "alphabet"),
    ("PASSWORD", {"alphabet": 42}, "alphabet"),
    ("PASSWORD", {"alphabet": "base64"}, "alphabet"),
    ("ENCRYPTION_KEY", {"alphabet": "alphanumeric"}, "alphabet"),
    ("PASSWORD", {"prefix": "x" * 33}, "prefix"),
    ("PASSWORD", {"prefix": "has space"}, "prefix"),
    ("PASSWORD", {"prefix": 7}, "prefix"),
    ("PASSWORD", {"require": "digit"}, "require"),
    ("PASSWORD", {"require": ["digits"]}, "require"),
    ("PASSWORD", {"require": ["upper"], "alphabet": "hex"}, "require"),
    # 1022 CJK characters, one digit, one upper case: both in 16 draws ~ 2e-4.
    ("PASSWORD", {"require": ["digit", "upper"], "alphabet": RARE_CLASSES_ALPHABET, "length": 16}, "require"),
    ("JWT_SECRET", {"require": ["digit"]}, "require"),
    ("ENCRYPTION_KEY", {"require": ["digit"]}, "require"),
    ("PASSWORD", {"lenght": 48}, "lenght"),
]


@pytest.mark.parametrize(("secret_type", "options", "option"), INVALID)
@pytest.mark.asyncio
async def test_invalid_options_name_the_option_and_no_value(
    secret_type: str, options: Mapping[str, Any], option: str
) -> None:
    with pytest.raises(ValueError) as raised:
        await RandomSecretGenerator().generate(request(secret_type, dict(options)))
    message = str(raised.value)
    assert message.startswith(f"rotation.{option}: ")
    # No generated value leaks: the message is made of the option name and a
    # fixed explanation, so it holds no long run of random characters.
    assert not re.search(r"[A-Za-z0-9_\-+/=]{24,}", message), message


def test_rotation_must_be_an_object() -> None:
    with pytest.raises(ValueError, match=r"^rotation: must be a JSON object"):
        generators.rotation_options({"rotation": [1, 2]})


def test_value_size_guard() -> None:
    # The largest configurable value stays far below the contract's 64 KiB.
    widest = "".join(chr(0x1F600 + i) for i in range(64))  # 4-byte UTF-8 characters
    value = generate_value("PASSWORD", {"alphabet": widest, "length": 4096, "prefix": "p" * 32})
    assert len(value.encode("utf-8")) <= MAX_VALUE_BYTES


# -- entropy sanity -----------------------------------------------------------


def test_thousand_passwords_are_distinct() -> None:
    values = [generate_value("PASSWORD", {}) for _ in range(1000)]
    assert len(set(values)) == 1000


@pytest.mark.parametrize(
    ("secret_type", "options", "strip", "alphabet_size"),
    [
        ("PASSWORD", {}, "", 90),
        ("PASSWORD", {"alphabet": "hex", "length": 64}, "", 16),
        ("JWT_SECRET", {}, "", 64),
        ("ENCRYPTION_KEY", {"alphabet": "hex"}, "", 16),
        ("WEBHOOK_SECRET", {"alphabet": "hex"}, "whsec_", 16),
    ],
)
def test_character_frequencies_are_roughly_uniform(
    secret_type: str, options: dict[str, Any], strip: str, alphabet_size: int
) -> None:
    """Loose chi-square goodness of fit over ~64k characters.

    The bounds sit about 6 standard deviations from the mean of the
    chi-square distribution (df = k - 1): a correct generator fails them with
    negligible probability, a biased one (modulo bias, a stuck character, a
    cycling pattern) fails them at once. PASSWORD's default requirement of
    every class shifts the digits' share by ~2%, adding ~5 to the statistic.
    """
    counts: Counter[str] = Counter()
    while sum(counts.values()) < 64_000:
        counts.update(generate_value(secret_type, options).removeprefix(strip))
    assert len(counts) == alphabet_size
    total = sum(counts.values())
    expected = total / alphabet_size
    chi_square = sum((observed - expected) ** 2 / expected for observed in counts.values())
    df = alphabet_size - 1
    spread = 6 * math.sqrt(2 * df)
    assert max(0.0, df - spread) < chi_square < df + spread + 20, chi_square
