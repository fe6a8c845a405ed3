"""Builtin value generator: random values from the OS CSPRNG (`random`).

One generator, named `random`, serves PASSWORD, JWT_SECRET, ENCRYPTION_KEY and
WEBHOOK_SECRET with per-type defaults. Every random choice comes from the
`secrets` module (os.urandom); characters are drawn with `secrets.choice`,
which is uniform over the alphabet (no modulo bias).

Defaults:

===============  ==========================================================
PASSWORD         32 characters of `ascii-printable`, at least one lower,
                 upper, digit and symbol (about 207 bits)
JWT_SECRET       64 characters of `base64url` (384 bits)
ENCRYPTION_KEY   32 random bytes, standard base64 with padding (44 chars)
WEBHOOK_SECRET   "whsec_" + 32 random bytes, unpadded base64url (43 chars)
===============  ==========================================================

Options come from the secret's metadata, `{"rotation": {...}}`:

- `length` (PASSWORD, JWT_SECRET): characters of the random part, 16..4096.
- `bytes` (ENCRYPTION_KEY, WEBHOOK_SECRET): random bytes, 16..1024. These
  types are encoded random bytes, so they are sized in bytes, not characters.
- `alphabet`: for character types one of `alphanumeric`, `hex` (lowercase),
  `base64url` (A-Z a-z 0-9 - _), `ascii-printable` (the visible ASCII
  characters except the quotes ' " ` and the backslash, so values paste
  safely into shells and .env files; 90 characters) or a custom string of
  10..1024 distinct printable, non-whitespace characters. For byte types the
  encoding: `base64`, `base64url` (unpadded) or `hex`.
- `prefix`: a fixed string (at most 32 printable, non-whitespace characters)
  put before the random part; it adds no entropy and is not counted in
  `length`. WEBHOOK_SECRET's default "whsec_" is replaced by it ("" drops it).
- `require` (PASSWORD only): a list of classes among `lower` (a-z), `upper`
  (A-Z), `digit` (0-9) and `symbol` (any other character of the alphabet).
  The random part holds at least one of each: whole values are drawn again
  until one qualifies, so the result is uniform over the qualifying values
  (no forced positions). Default: all four with the default alphabet, none
  when `alphabet` is given; `[]` turns it off. A requirement the alphabet
  cannot meet, or meets too rarely at this length (under 1 in 100 draws),
  is an error.

Unknown options are errors, so a typo ("lenght") never silently yields a
default-sized value. Errors are `ValueError("rotation.<option>: ...")` and
never include a generated value.
"""

from __future__ import annotations

import base64
import binascii
import math
import secrets
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from plugins import hookimpl
from plugins.interfaces import GenerationRequest, PluginConfig

NAME = "random"

#: The most a generated value may weigh, in UTF-8 bytes (ValueGenerator contract).
MAX_VALUE_BYTES = 64 * 1024
MIN_LENGTH, MAX_LENGTH = 16, 4096
MIN_BYTES, MAX_BYTES = 16, 1024
MAX_PREFIX = 32
MIN_CUSTOM_ALPHABET, MAX_CUSTOM_ALPHABET = 10, 1024
#: A `require` met by fewer draws than this is refused rather than retried.
MIN_REQUIRE_PROBABILITY = 0.01
#: Retries are bounded so that running out happens with at most this chance.
REQUIRE_FAILURE_CHANCE = 1e-12

_UNSAFE = "'\"`\\"
SYMBOLS = "".join(c for c in string.punctuation if c not in _UNSAFE)

ALPHABETS: Mapping[str, str] = {
    "alphanumeric": string.ascii_letters + string.digits,
    "hex": string.digits + "abcdef",
    "base64url": string.ascii_letters + string.digits + "-_",
    "ascii-printable": string.ascii_letters + string.digits + SYMBOLS,
}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _hex(data: bytes) -> str:
    return binascii.hexlify(data).decode("ascii")


ENCODINGS: Mapping[str, Callable[[bytes], str]] = {"base64": _b64, "base64url": _b64url, "hex": _hex}

CLASSES: Mapping[str, Callable[[str], bool]] = {
    "lower": lambda c: c in string.ascii_lowercase,
    "upper": lambda c: c in string.ascii_uppercase,
    "digit": lambda c: c in string.digits,
    "symbol": lambda c: not (c in string.ascii_letters or c in string.digits),
}


@dataclass(frozen=True)
class TypeDefaults:
    """How one secret type is generated when no option says otherwise."""

    unit: str  # "chars" (length + alphabet) or "bytes" (bytes + encoding)
    size: int
    alphabet: str  # an ALPHABETS name for chars, an ENCODINGS name for bytes
    prefix: str = ""
    require: tuple[str, ...] = ()


DEFAULTS: Mapping[str, TypeDefaults] = {
    "PASSWORD": TypeDefaults("chars", 32, "ascii-printable", require=tuple(CLASSES)),
    "JWT_SECRET": TypeDefaults("chars", 64, "base64url"),
    "ENCRYPTION_KEY": TypeDefaults("bytes", 32, "base64"),
    "WEBHOOK_SECRET": TypeDefaults("bytes", 32, "base64url", prefix="whsec_"),
}

_KNOWN_OPTIONS = ("length", "bytes", "alphabet", "prefix", "require")


def _int_option(option: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"rotation.{option}: must be an integer")
    if not low <= value <= high:
        raise ValueError(f"rotation.{option}: must be between {low} and {high}")
    return value


def _prefix(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("rotation.prefix: must be a string")
    if len(value) > MAX_PREFIX:
        raise ValueError(f"rotation.prefix: must be at most {MAX_PREFIX} characters")
    if any(not c.isprintable() or c.isspace() for c in value):
        raise ValueError("rotation.prefix: must hold only printable, non-whitespace characters")
    return value


def _char_alphabet(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("rotation.alphabet: must be a string")
    if value in ALPHABETS:
        return ALPHABETS[value]
    if len(set(value)) < MIN_CUSTOM_ALPHABET:
        raise ValueError(
            f"rotation.alphabet: must be one of {', '.join(ALPHABETS)} "
            f"or a custom string of at least {MIN_CUSTOM_ALPHABET} distinct characters"
        )
    if len(value) > MAX_CUSTOM_ALPHABET:
        raise ValueError(f"rotation.alphabet: a custom alphabet holds at most {MAX_CUSTOM_ALPHABET} characters")
    if len(set(value)) != len(value):
        raise ValueError("rotation.alphabet: a custom alphabet must not repeat a character (it would skew the draw)")
    if any(not c.isprintable() or c.isspace() for c in value):
        raise ValueError("rotation.alphabet: a custom alphabet must hold only printable, non-whitespace characters")
    return value


def _encoding(value: Any, secret_type: str) -> Callable[[bytes], str]:
    if not isinstance(value, str) or value not in ENCODINGS:
        raise ValueError(
            f"rotation.alphabet: {secret_type} values are encoded random bytes; "
            f"the alphabet must be one of {', '.join(ENCODINGS)}"
        )
    return ENCODINGS[value]


def _require(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"rotation.require: must be a list of classes among {', '.join(CLASSES)}")
    if any(v not in CLASSES for v in value):
        raise ValueError(f"rotation.require: unknown class, expected classes among {', '.join(CLASSES)}")
    return tuple(dict.fromkeys(value))


def _success_probability(alphabet: str, length: int, required: Sequence[str]) -> float:
    """P(a uniform draw of `length` characters holds every required class).

    The classes are disjoint, so inclusion-exclusion over the sets of classes
    that are missing gives it exactly.
    """
    share = {name: sum(1 for c in alphabet if CLASSES[name](c)) / len(alphabet) for name in required}
    total = 0.0
    for mask in range(1 << len(required)):
        missing = [name for bit, name in enumerate(required) if mask >> bit & 1]
        total += (-1) ** len(missing) * (1.0 - sum(share[m] for m in missing)) ** length
    return total


def _draw(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _draw_with_classes(alphabet: str, length: int, required: Sequence[str]) -> str:
    """A uniform draw among the strings that hold every required class.

    Rejection sampling: draw whole strings until one qualifies. Unlike forcing
    one character of each class into some position, this leaves the result
    uniform over the qualifying strings.
    """
    for name in required:
        if not any(CLASSES[name](c) for c in alphabet):
            raise ValueError(f"rotation.require: the alphabet has no {name} character")
    if not required:
        return _draw(alphabet, length)
    probability = _success_probability(alphabet, length, required)
    if probability < MIN_REQUIRE_PROBABILITY:
        raise ValueError(
            "rotation.require: the alphabet has too few characters of the required classes for this length; "
            "use a longer length or a more balanced alphabet"
        )
    # Enough draws that running out has at most REQUIRE_FAILURE_CHANCE; when
    # the probability rounds to 1.0 a miss is below 1e-16 per draw anyway.
    tries = 8 if probability >= 1.0 else math.ceil(math.log(REQUIRE_FAILURE_CHANCE) / math.log1p(-probability))
    for _ in range(tries):
        candidate = _draw(alphabet, length)
        if all(any(CLASSES[name](c) for c in candidate) for name in required):
            return candidate
    # Reached with probability below REQUIRE_FAILURE_CHANCE.
    raise ValueError("rotation.require: no qualifying value was drawn; try again")


def rotation_options(metadata: Mapping[str, Any]) -> Mapping[str, Any]:
    """The `rotation` object of a secret's metadata ({} when absent)."""
    options = metadata.get("rotation") if metadata else None
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ValueError("rotation: must be a JSON object")
    return options


def generate_value(secret_type: str, options: Mapping[str, Any]) -> str:
    """A new random value of `secret_type` under the `rotation` options."""
    secret_type = str(getattr(secret_type, "value", secret_type))  # a SecretType member or its value
    defaults = DEFAULTS.get(secret_type)
    if defaults is None:
        raise ValueError(f"rotation: the {NAME} generator does not serve {secret_type} secrets")
    for option in options:
        if option not in _KNOWN_OPTIONS:
            raise ValueError(
                f"rotation.{option}: unknown option, expected one of {', '.join(_KNOWN_OPTIONS)}"
                if isinstance(option, str) and len(option) <= 64
                else f"rotation: unknown option, expected one of {', '.join(_KNOWN_OPTIONS)}"
            )
    prefix = _prefix(options["prefix"]) if "prefix" in options else defaults.prefix

    if defaults.unit == "bytes":
        for option, hint in (("length", "bytes"), ("require", None)):
            if option in options:
                raise ValueError(
                    f"rotation.{option}: {secret_type} values are encoded random bytes; use rotation.{hint}"
                    if hint
                    else f"rotation.{option}: only PASSWORD secrets support it"
                )
        size = _int_option("bytes", options["bytes"], MIN_BYTES, MAX_BYTES) if "bytes" in options else defaults.size
        encode = _encoding(options.get("alphabet", defaults.alphabet), secret_type)
        value = prefix + encode(secrets.token_bytes(size))
    else:
        if "bytes" in options:
            raise ValueError(f"rotation.bytes: {secret_type} values are sized in characters; use rotation.length")
        if "require" in options and secret_type != "PASSWORD":
            raise ValueError("rotation.require: only PASSWORD secrets support it")
        length = (
            _int_option("length", options["length"], MIN_LENGTH, MAX_LENGTH) if "length" in options else defaults.size
        )
        if "alphabet" in options:
            alphabet = _char_alphabet(options["alphabet"])
            required: tuple[str, ...] = ()
        else:
            alphabet = ALPHABETS[defaults.alphabet]
            required = defaults.require
        if "require" in options:
            required = _require(options["require"])
        value = prefix + _draw_with_classes(alphabet, length, required)

    if len(value.encode("utf-8")) > MAX_VALUE_BYTES:  # unreachable within the bounds above; kept as a guard
        raise ValueError("rotation.length: the value would exceed 64 KiB")
    return value


class RandomSecretGenerator:
    """ValueGenerator for PASSWORD, JWT_SECRET, ENCRYPTION_KEY and WEBHOOK_SECRET."""

    name = NAME
    secret_types: frozenset[str] = frozenset(DEFAULTS)

    def __repr__(self) -> str:
        return f"<RandomSecretGenerator {NAME} types={','.join(sorted(self.secret_types))}>"

    async def generate(self, request: GenerationRequest) -> str:
        return generate_value(request.secret_type, rotation_options(request.metadata))


@hookimpl(trylast=True)
def register_value_generators(config: PluginConfig) -> Iterable[RandomSecretGenerator]:
    return [RandomSecretGenerator()]
