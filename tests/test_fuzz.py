"""Fuzzing the GraphQL API with operations generated from its schema.

Two generators, run with the token of a principal bound only to workspace A
(its ADMIN) and with the superadmin's:

- whole operations: hypothesis-graphql builds queries and mutations from
  schema.graphql (root fields, arguments, selections); our strategies fill
  the arguments with meaningful and hostile values (the ids, names and
  cursors of seeded objects of both workspaces, malformed ids, NUL bytes,
  lone surrogates, huge ints, far-future and offset dates, odd cursors, deep
  and odd JSON). Each argument is written inline or sent as a variable drawn
  by type (rarely of the wrong type);
- one hostile argument: a root field with valid arguments but one (or one
  field of an input object, or one list item), so that the hostile value
  reaches the resolver instead of meeting another argument's refusal.

Bodies are serialised with JSON escapes, so a lone surrogate reaches the
server as `\\ud800` (httpx's own encoder would refuse it). Every answer
must hold, whoever asks:

- HTTP status below 500, and a JSON (RFC 8259: no NaN) GraphQL response;
- every error has an `extensions.code`, and none is INTERNAL;
- nothing is logged at ERROR while the request runs;
- no error holds a seeded secret value, and no answer holds a seeded token;
- with the workspace-A token, no answer (data or errors) holds a secret
  value of workspace B;
- afterwards the audit chains of the seeded workspaces still verify.

All examples of a test share one server (a fuzzed mutation changes what
later examples see), so the function-scoped fixture health check is
suppressed on purpose and shrinking is off: a shrunk example would not
replay against the same state. A test stops at its first failure and shows
the request and the answer; the exception type names the kind of failure
(and, for INTERNAL, the root field).

Bounded by default: a derandomized run per dialect, about half a minute for
both. Longer runs: `python -m tests.fuzz_long --examples 5000 [--seed N]`
(or STRONGROOM_FUZZ_EXAMPLES=N and STRONGROOM_FUZZ_SEED=S).
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any, NoReturn

import graphql
import httpx
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis_graphql import mutations, nodes, queries

from tests.harness import ADMIN_TOKEN, Server

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"
WS_A, WS_B = "fuzz-a", "fuzz-b"
JSON_TYPES = ("application/json", "application/graphql-response+json")

# --- run length --------------------------------------------------------------

LONG_RUN = int(os.environ.get("STRONGROOM_FUZZ_EXAMPLES", "0") or 0)
LONG_RUN_SEED = os.environ.get("STRONGROOM_FUZZ_SEED")


def fuzz_settings(default_examples: int) -> Callable[[Any], Any]:
    """Bounded and reproducible by default; STRONGROOM_FUZZ_EXAMPLES makes it long and random (or seeded)."""
    common: dict[str, Any] = {
        "deadline": None,
        "database": None,
        # No shrinking: examples share one server whose state each example
        # changes, so a shrunk example would not replay the same; a failure
        # shows its request and answer instead.
        "phases": [Phase.explicit, Phase.generate],
        # Fixtures are deliberately shared by all examples of a test (see the module docstring).
        "suppress_health_check": [
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    }
    if not LONG_RUN:
        return settings(max_examples=default_examples, derandomize=True, **common)
    long_settings = settings(max_examples=LONG_RUN, derandomize=False, print_blob=True, **common)
    if LONG_RUN_SEED is None:
        return long_settings
    return lambda test: seed(int(LONG_RUN_SEED))(long_settings(test))


# --- the seeded world --------------------------------------------------------------


@dataclass(repr=False)
class World:
    """What the fuzzer knows about: ids, names, values and tokens seeded through the API."""

    server: Server
    token_a: str
    values_a: list[str]
    values_b: list[str]
    names: list[str]
    secret_ids: list[str]
    principal_ids: list[str]
    token_ids: list[str]
    cursors: list[str]
    other_tokens: list[str] = field(default_factory=list)
    a_secret_ids: list[str] = field(default_factory=list)
    a_names: list[str] = field(default_factory=list)
    a_principal_id: str = ""  # viewer-a: bound to A, not the fuzzer itself
    a_token_id: str = ""  # viewer-a's token
    pools: Pools | None = None
    fresh: int = 0  # for names that must be new

    def new_name(self, prefix: str) -> str:
        self.fresh += 1
        return f"{prefix}{self.fresh}"

    def __repr__(self) -> str:  # never the tokens or values
        return f"World({len(self.secret_ids)} secrets, {len(self.principal_ids)} other principals)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # Hypothesis prints dataclasses field by field, ignoring __repr__.
        printer.text(repr(self))

    @property
    def tokens(self) -> list[str]:
        return [ADMIN_TOKEN, self.token_a, *self.other_tokens]


async def _data(
    server: Server, query: str, variables: Mapping[str, Any] | None = None, token: str = ADMIN_TOKEN
) -> dict[str, Any]:
    return await server.data(query, variables, token=token)


CREATE_SECRET = """mutation($ws: ID!, $input: CreateSecretInput!) {
  createSecret(workspaceId: $ws, input: $input) { id name } }"""
CREATE_PRINCIPAL = """mutation($name: String!, $bindings: [RoleBindingInput!]!) {
  createPrincipal(name: $name, bindings: $bindings) { id } }"""
CREATE_TOKEN = """mutation($pid: ID!, $name: String!) {
  createApiToken(principalId: $pid, name: $name) { token apiToken { id } } }"""


async def seed_world(server: Server) -> World:
    """Two workspaces with distinctive secrets, principals bound to each, their tokens."""
    marker = uuid.uuid4().hex
    values: dict[str, list[str]] = {WS_A: [], WS_B: []}
    names, secret_ids = [], []
    for workspace, letter in ((WS_A, "A"), (WS_B, "B")):
        await _data(server, "mutation($id: ID!) { createWorkspace(id: $id) { id } }", {"id": workspace})
        for index, secret_type in enumerate(("API_KEY", "PASSWORD", "DATABASE_CREDENTIAL", "GENERIC")):
            value = f"fuzz{letter}-value-{index}-{marker}"
            name = f"{letter}_SECRET_{index}"
            created = await _data(
                server,
                CREATE_SECRET,
                {
                    "ws": workspace,
                    "input": {
                        "name": name,
                        "secretType": secret_type,
                        "value": value,
                        "tags": [f"tag{index % 2}", letter.lower()],
                        "metadata": {"owner": letter, "n": index},
                    },
                },
            )
            values[workspace].append(value)
            names.append(name)
            secret_ids.append(created["createSecret"]["id"])
        # A second version, so version arguments have something to find.
        await _data(
            server,
            "mutation($ws: ID!, $id: ID!, $v: String!) { rotateSecret(workspaceId: $ws, id: $id, newValue: $v) { id } }",
            {"ws": workspace, "id": secret_ids[-1], "v": f"fuzz{letter}-rotated-{marker}"},
        )
        values[workspace].append(f"fuzz{letter}-rotated-{marker}")

    async def principal(name: str, workspace: str, role: str) -> tuple[str, str, str]:
        made = await _data(
            server, CREATE_PRINCIPAL, {"name": name, "bindings": [{"workspaceId": workspace, "role": role}]}
        )
        principal_id = made["createPrincipal"]["id"]
        token = (await _data(server, CREATE_TOKEN, {"pid": principal_id, "name": f"{name}-token"}))["createApiToken"]
        return principal_id, token["token"], token["apiToken"]["id"]

    _fuzzer_id, token_a, _fuzzer_token_id = await principal("fuzzer-a", WS_A, "ADMIN")
    viewer_a = await principal("viewer-a", WS_A, "VIEWER")
    admin_b = await principal("admin-b", WS_B, "ADMIN")

    # Positive and negative controls: the fuzzer's token is what we think it is.
    read = await server.execute(
        "query($ws: ID!) { secretValues(workspaceId: $ws) { value } }", {"ws": WS_A}, token=token_a
    )
    assert sorted(v["value"] for v in read["data"]["secretValues"]) == sorted(values[WS_A][:3] + values[WS_A][-1:])
    refused = await server.execute(
        "query($ws: ID!) { secretValues(workspaceId: $ws) { value } }", {"ws": WS_B}, token=token_a
    )
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["FORBIDDEN"]

    page = await _data(
        server, "query($ws: ID!) { secrets(workspaceId: $ws, first: 2) { pageInfo { endCursor } } }", {"ws": WS_B}
    )
    audit = await _data(
        server,
        "query($ws: ID!) { workspaceAudit(workspaceId: $ws, first: 2) { pageInfo { endCursor } } }",
        {"ws": WS_B},
    )
    # The fuzzer's own principal and token ids are left out of the pools, so
    # that a fuzzed revokeApiToken / revokeRole / grantRole cannot lock the
    # fuzzer out of its own workspace (and make every later example a plain
    # UNAUTHENTICATED). Other principals' and tokens' ids are in.
    return World(
        server=server,
        token_a=token_a,
        values_a=values[WS_A],
        values_b=values[WS_B],
        names=names,
        secret_ids=secret_ids,
        principal_ids=[viewer_a[0], admin_b[0]],
        token_ids=[viewer_a[2], admin_b[2]],
        cursors=[page["secrets"]["pageInfo"]["endCursor"], audit["workspaceAudit"]["pageInfo"]["endCursor"]],
        other_tokens=[viewer_a[1], admin_b[1]],
        a_secret_ids=secret_ids[:4],
        a_names=names[:4],
        a_principal_id=viewer_a[0],
        a_token_id=viewer_a[2],
    )


@pytest_asyncio.fixture
async def world(server: Server) -> World:
    seeded = await seed_world(server)
    seeded.pools = make_pools(seeded)
    return seeded


# --- values ---------------------------------------------------------------------------
#
# Any argument value the schema rejects (an out-of-range Int literal, an
# invalid DateTime, an unknown enum value, a variable of the wrong type, a
# lone surrogate inside the document) makes the whole operation a request
# error before any resolver runs. Such values are drawn, but rarely
# (`mostly`), so that most examples reach the resolvers with hostile but
# well-typed values.

HOSTILE_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff",
    "x\udbffy",
    "\ud83d\ude00",
    "\ufffe\uffff",
    "\u202egnp.exe",
    "\r\n",
    "\t",
    "é",
    "漢字",
    "🔐" * 3,
    "\u0000" * 3,
    "' OR '1'='1",
    '"; DROP TABLE secret; --',
    "%",
    "_",
    "%_%",
    "\\",
    "\\%",
    "*",
    "?",
    "../../etc/passwd",
    "${HOME}",
    "$(id)",
    "{{7*7}}",
    "<script>x</script>",
    "A=1\nB=2",
    "export X=\"y\"\n# c\nY='z'\n",
    "=novalue",
    "BAD NAME=1",
    "A=\x00",
    "A=\ud800",
    "A" * 129 + "=v",
    "9" * 400,
    "-1",
    "0",
    "1e309",
    "NaN",
    "null",
    "true",
    "[]",
    "{}",
    "default",
    WS_A,
    WS_B,
    WS_B.upper(),
    f" {WS_B}",
    f"{WS_B}\x00",
    "fuzz_b",
    "a" * 64,
]
VALID_DATETIMES = [
    "2030-01-01T00:00:00Z",
    "2030-01-01T00:00:00+00:00",
    "2030-01-01T00:00:00.123456+05:30",
    "2999-06-30T12:00:00-11:59",
    "9999-12-31T23:59:59+00:00",
    "9999-12-31T23:59:59.999999-23:59",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+23:59",
    "0001-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "2000-01-01T00:00:00",
    "2000-01-01",
]
INVALID_DATETIMES = [
    "2024-02-30T00:00:00Z",
    "2030-01-01T00:00:00+24:00",
    "2030-01-01T25:00:00Z",
    "2030-13-01T00:00:00Z",
    "+275760-09-13T00:00:00Z",
    "2030-01-01T00:00:00.1234567891Z",
    "now",
    "",
    "\x00",
    "2030-01-01T00:00:00\ud800",
]
INT32_EDGES = [0, 1, -1, 2**31 - 1, -(2**31)]
HUGE_INTS = [2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30, 10**400]
FIXED_OFFSETS = [timezone(timedelta(minutes=m)) for m in (-1439, -720, -1, 0, 1, 330, 840, 1439)]


def mostly(common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], one_in: int = 10) -> st.SearchStrategy[Any]:
    """`common`, and `rare` about once in `one_in` draws (shrinking towards `common`).

    Not integers(1, n): Hypothesis favours the bounds of a range, which would
    make `rare` common; sampled_from picks evenly.
    """
    return st.sampled_from([False] * (one_in - 1) + [True]).flatmap(lambda is_rare: rare if is_rare else common)


class _Pool:
    """values[i], with a repr that does not list the values."""

    def __init__(self, values: Sequence[Any]) -> None:
        self.values = list(values)

    def __call__(self, index: int) -> Any:
        return self.values[index]

    def __repr__(self) -> str:
        return f"<pool of {len(self.values)}>"


def pick(values: Sequence[Any]) -> st.SearchStrategy[Any]:
    """sampled_from(values), with a short repr.

    Hypothesis reprs strategies while it runs (events, reports); a repr that
    lists a long pool of long strings raises HypothesisWarning (an error in
    this suite) in the middle of a draw, which then replays differently
    (FlakyStrategyDefinition).
    """
    pool = _Pool(values)
    return st.sampled_from(range(len(pool.values))).map(pool)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def odd_cursors(real: Sequence[str]) -> list[str]:
    """Cursors of another workspace, forged and broken ones."""
    return [
        *real,
        _b64(json.dumps({"n": "B_SECRET_3"}).encode()),
        _b64(json.dumps({"n": 1}).encode()),
        _b64(json.dumps({"n": "\x00"}).encode()),
        _b64(json.dumps({"n": "\ud800"}).encode()),
        _b64(json.dumps({"n": "x" * 300}).encode()),
        _b64(b"[]"),
        _b64(b"null"),
        _b64(b"\xff\xfe"),
        "not base64!",
        "====",
        "",
        "²",
        "١٢٣",
        "9" * 30,
        "-1",
        "0",
        str(2**63),
        "1e3",
        " 1",
        "1\x00",
    ]


# Over the size limits (64 KiB values, 16 KiB metadata...); built by map so
# that no strategy's repr holds them.
BIG_STRINGS = st.sampled_from([("x", 65537), ("é", 32769), ("\x00", 70000), ("A", 16385), ("x", 300)]).map(
    lambda spec: spec[0] * spec[1]
)
SECRET_NAMES = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,20}\Z")  # valid, mostly new names


def _has_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def text_strategy(
    pool: Sequence[str], cursors: Sequence[str], names: Sequence[str], *, surrogates: bool
) -> st.SearchStrategy[str]:
    """Pool strings, cursors, secret names (seeded and new), over-long strings, random text, pairs.

    `surrogates=False` (for documents) keeps lone surrogates rare: in a
    document any of them makes the whole document a syntax error.
    """
    if not surrogates:
        pool = [p for p in pool if not _has_surrogate(p)]
        cursors = [c for c in cursors if not _has_surrogate(c)]
    characters = st.characters(codec=None, exclude_categories=[] if surrogates else ["Cs"])
    common = st.one_of(
        pick(pool),
        pick(cursors),
        pick(names) | SECRET_NAMES,
        BIG_STRINGS,
        st.text(characters, max_size=40),
        st.tuples(pick(pool), pick(pool)).map("".join),
    )
    return common if surrogates else mostly(common, st.sampled_from(["\ud800", "a\udfffb"]), one_in=200)


@st.composite
def nested_json(draw: st.DrawFn, leaves: st.SearchStrategy[Any]) -> Any:
    """Deep nesting, which recursive() rarely reaches (our own json.dumps stops near 500 levels)."""
    depth = draw(st.sampled_from([10, 64, 200, 400]))
    value: Any = draw(leaves)
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def python_json(strings: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        pick(INT32_EDGES + HUGE_INTS),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([1e308, -0.0, 5e-324]),
        strings,
    )

    def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.lists(children, max_size=4) | st.dictionaries(strings, children, max_size=4)

    tree = st.recursive(leaves, containers, max_leaves=12)
    return st.one_of(tree, nested_json(leaves))


# --- value AST nodes for hypothesis-graphql (inline arguments) ------------------------------


def json_nodes(strings: st.SearchStrategy[str]) -> st.SearchStrategy[graphql.ValueNode]:
    """A JSON scalar as a GraphQL literal; object keys must be GraphQL names there."""
    names = st.from_regex(r"\A[_A-Za-z][_0-9A-Za-z]{0,12}\Z")
    leaves: st.SearchStrategy[graphql.ValueNode] = st.one_of(
        st.just(nodes.Null),
        st.booleans().map(nodes.Boolean),
        pick(INT32_EDGES + HUGE_INTS).map(nodes.Int),
        st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
        strings.map(nodes.String),
        st.sampled_from(["FOO", "bar"]).map(nodes.Enum),
    )
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=4).map(nodes.List)
            | st.lists(
                st.tuples(names, children).map(
                    lambda kv: graphql.ObjectFieldNode(name=graphql.NameNode(value=kv[0]), value=kv[1])
                ),
                max_size=4,
                unique_by=lambda f: f.name.value,
            ).map(nodes.Object)
        ),
        max_leaves=12,
    )


def _id_node(value: str | int) -> graphql.ValueNode:
    return nodes.Int(value) if isinstance(value, int) else nodes.String(value)


@dataclass
class Pools:
    """Value strategies, built once per seeded world."""

    strings: st.SearchStrategy[str]  # for variables: lone surrogates included
    inline_strings: st.SearchStrategy[str]  # for documents: lone surrogates rare
    ids: st.SearchStrategy[str | int]
    inline_ids: st.SearchStrategy[str | int]
    datetimes: st.SearchStrategy[str | int]
    inline_datetimes: st.SearchStrategy[str | int]
    ints: st.SearchStrategy[int]
    json: st.SearchStrategy[Any]
    _documents: dict[str, st.SearchStrategy[graphql.DocumentNode]] = field(default_factory=dict)

    def documents(self, kind: str) -> st.SearchStrategy[graphql.DocumentNode]:
        """hypothesis-graphql's operations of `kind` (query or mutation), built once."""
        if kind not in self._documents:
            make = queries if kind == "query" else mutations
            self._documents[kind] = make(schema(), custom_scalars=self.custom_scalars(), print_ast=lambda d: d)
        return self._documents[kind]

    def custom_scalars(self) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
        return {
            "String": self.inline_strings.map(nodes.String),
            "ID": self.inline_ids.map(_id_node),
            "Int": self.ints.map(nodes.Int),
            "DateTime": self.inline_datetimes.map(_id_node),
            "JSON": json_nodes(self.inline_strings),
        }


def make_pools(world: World) -> Pools:
    cursors = odd_cursors(world.cursors)
    workspaces = ["default", WS_A, WS_A, WS_B]  # the fuzzer's own workspace twice as often
    objects = [*world.secret_ids, *world.principal_ids, *world.token_ids]
    odd_ids = [
        *(i.upper() for i in world.secret_ids[-2:]),
        f"{{{world.secret_ids[-1]}}}",
        f"urn:uuid:{world.secret_ids[-1]}",
        str(uuid.UUID(int=0)),
        str(uuid.uuid4()),
        "not-a-uuid",
        "",
        "\x00",
        "\ud800",
        "x" * 300,
        "1",
    ]
    pool = [*HOSTILE_STRINGS, *workspaces, *objects, *odd_ids, *VALID_DATETIMES]
    strings = text_strategy(pool, cursors, world.names, surrogates=True)
    inline_strings = text_strategy(pool, cursors, world.names, surrogates=False)

    def ids_from(text: st.SearchStrategy[str]) -> st.SearchStrategy[str | int]:
        return st.one_of(
            pick(workspaces),
            pick(objects),
            pick([i for i in odd_ids if not _has_surrogate(i)]),
            text,
            pick(INT32_EDGES + HUGE_INTS),
        )

    generated = st.datetimes(timezones=st.sampled_from([None, *FIXED_OFFSETS])).map(lambda d: d.isoformat())
    valid_datetimes = st.one_of(st.sampled_from(VALID_DATETIMES), generated)
    return Pools(
        strings=strings,
        inline_strings=inline_strings,
        ids=ids_from(strings),
        inline_ids=ids_from(inline_strings),
        datetimes=mostly(valid_datetimes, pick([*INVALID_DATETIMES, 0, -1, 2**40])),
        inline_datetimes=mostly(
            valid_datetimes, st.sampled_from([d for d in INVALID_DATETIMES if not _has_surrogate(d)] + [0])
        ),
        ints=mostly(st.one_of(st.sampled_from(INT32_EDGES), st.integers(min_value=-5, max_value=120)), pick(HUGE_INTS)),
        json=python_json(strings),
    )


# --- variables: values drawn by type ---------------------------------------------------------


def variable_value(pools: Pools, type_: graphql.GraphQLInputType) -> st.SearchStrategy[Any]:
    """A JSON value for a variable of `type_`: mostly the right shape with hostile content, sometimes wrong."""
    wrong = st.one_of(st.none(), st.booleans(), pick(HUGE_INTS), st.floats(), st.just([]), st.just({}), pools.strings)
    return mostly(_typed(pools, type_), wrong)


def _typed(pools: Pools, type_: graphql.GraphQLInputType) -> st.SearchStrategy[Any]:
    if isinstance(type_, graphql.GraphQLNonNull):
        return _inner(pools, type_.of_type)
    return st.one_of(st.none(), _inner(pools, type_))


def _inner(pools: Pools, type_: graphql.GraphQLInputType) -> st.SearchStrategy[Any]:
    inner: st.SearchStrategy[Any]
    if isinstance(type_, graphql.GraphQLList):
        item = _typed(pools, type_.of_type)
        inner = st.one_of(st.lists(item, max_size=4), item)  # a single value coerces to a list
    elif isinstance(type_, graphql.GraphQLInputObjectType):
        required = {n: _typed(pools, f.type) for n, f in type_.fields.items() if graphql.is_required_input_field(f)}
        optional = {n: _typed(pools, f.type) for n, f in type_.fields.items() if n not in required}
        inner = st.fixed_dictionaries(required, optional=optional)
    elif isinstance(type_, graphql.GraphQLEnumType):
        inner = mostly(st.sampled_from(list(type_.values)), pools.strings)
    else:
        inner = {
            "String": pools.strings,
            "ID": pools.ids,
            "Int": pools.ints,
            "Float": st.floats(),
            "Boolean": st.booleans(),
            "DateTime": pools.datetimes,
            "JSON": pools.json,
        }[type_.name]
    return inner


# --- operations ---------------------------------------------------------------------------------


@functools.cache
def schema() -> graphql.GraphQLSchema:
    return graphql.build_schema(SCHEMA_FILE.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Request:
    query: str
    variables: dict[str, Any]
    accept: str

    def body(self) -> bytes:
        # ensure_ascii: a lone surrogate becomes a \\ud800 escape, valid JSON text
        # that httpx's own encoder would refuse to produce.
        return json.dumps({"query": self.query, "variables": self.variables}, ensure_ascii=True, allow_nan=True).encode(
            "ascii"
        )

    def __repr__(self) -> str:
        return f"Request(query={_clip(self.query, 2000)!r}, variables={_clip(repr(self.variables), 2000)}, accept={self.accept!r})"

    def shown(self) -> str:
        variables = json.dumps(self.variables, ensure_ascii=True, allow_nan=True)
        return f"accept: {self.accept}\nquery:\n{_clip(self.query, 3000)}\nvariables: {_clip(variables, 3000)}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def lift_arguments(
    document: graphql.DocumentNode, draw: st.DrawFn, pools: Pools
) -> tuple[graphql.DocumentNode, dict[str, Any]]:
    """Turn some root-field arguments into variables whose values are drawn by type."""
    operation = document.definitions[0]
    assert isinstance(operation, graphql.OperationDefinitionNode)
    root = schema().mutation_type if operation.operation == graphql.OperationType.MUTATION else schema().query_type
    assert root is not None
    definitions: list[graphql.VariableDefinitionNode] = []
    variables: dict[str, Any] = {}
    selections = []
    for selection in operation.selection_set.selections:
        if not isinstance(selection, graphql.FieldNode) or not selection.arguments:
            selections.append(selection)
            continue
        field_def = root.fields[selection.name.value]
        arguments = []
        for argument in selection.arguments:
            if not draw(st.booleans()):
                arguments.append(argument)
                continue
            name = f"v{len(definitions)}"
            arg_type = field_def.args[argument.name.value].type
            definitions.append(
                graphql.VariableDefinitionNode(
                    variable=graphql.VariableNode(name=graphql.NameNode(value=name)),
                    type=graphql.parse_type(str(arg_type)),
                )
            )
            variables[name] = draw(variable_value(pools, arg_type))
            arguments.append(
                graphql.ArgumentNode(name=argument.name, value=graphql.VariableNode(name=graphql.NameNode(value=name)))
            )
        selections.append(
            graphql.FieldNode(
                alias=selection.alias,
                name=selection.name,
                arguments=tuple(arguments),
                directives=selection.directives,
                selection_set=selection.selection_set,
            )
        )
    lifted = graphql.OperationDefinitionNode(
        operation=operation.operation,
        name=operation.name,
        variable_definitions=tuple(definitions),
        directives=operation.directives,
        selection_set=graphql.SelectionSetNode(selections=tuple(selections)),
    )
    return graphql.DocumentNode(definitions=(lifted,)), variables


@st.composite
def requests(draw: st.DrawFn, pools: Pools, kinds: Sequence[str]) -> Request:
    kind = draw(st.sampled_from(list(kinds)))
    document = draw(pools.documents(kind))
    document, variables = lift_arguments(document, draw, pools)
    return Request(query=graphql.print_ast(document), variables=variables, accept=draw(st.sampled_from(JSON_TYPES)))


# --- checks ---------------------------------------------------------------------------------------


class FuzzFailure(AssertionError):
    """One kind of failure; subclasses keep Hypothesis's reports of different kinds apart."""


class ServerError(FuzzFailure):
    pass


class NotGraphQL(FuzzFailure):
    pass


class InternalError(FuzzFailure):
    pass


class UncodedError(FuzzFailure):
    pass


class LoggedError(FuzzFailure):
    pass


class ValueInError(FuzzFailure):
    pass


class TokenLeak(FuzzFailure):
    pass


class CrossWorkspaceLeak(FuzzFailure):
    pass


class AuditChainBroken(FuzzFailure):
    pass


@functools.cache
def kind_for(base: type[FuzzFailure], root_field: str) -> type[FuzzFailure]:
    """A failure type per root field, so one broken resolver does not hide another."""
    return type(f"{base.__name__}_{root_field}", (base,), {})


def _fail(kind: type[FuzzFailure], request: Request, response: httpx.Response, what: str) -> NoReturn:
    raise kind(
        f"{what}\n--- request ---\n{request.shown()}\n--- response ---\n"
        f"{response.status_code} {response.headers.get('content-type')}\n{_clip(response.text, 3000)}"
    )


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_json(text: str) -> Any:
    """RFC 8259 JSON: Python's json would also read NaN and Infinity, which no browser does."""
    return json.loads(text, parse_constant=_refuse_constant)


def _root_of(error: Mapping[str, Any]) -> str:
    path = error.get("path") or ["document"]
    return str(path[0])


def check(
    world: World, token: str, request: Request, response: httpx.Response, logged: list[logging.LogRecord]
) -> None:
    if response.status_code >= 500:
        _fail(ServerError, request, response, f"HTTP {response.status_code}")
    try:
        body = strict_json(response.text)
    except ValueError as exc:
        _fail(NotGraphQL, request, response, f"the answer is not JSON ({exc})")
    if not isinstance(body, dict) or not ({"data", "errors"} & set(body)):
        _fail(NotGraphQL, request, response, "the answer is not a GraphQL response")
    errors = body.get("errors") or []
    if not isinstance(errors, list):
        _fail(NotGraphQL, request, response, "errors is not a list")
    for error in errors:
        code = (error.get("extensions") or {}).get("code")
        if code == "INTERNAL":
            _fail(kind_for(InternalError, _root_of(error)), request, response, f"INTERNAL at {error.get('path')}")
        if not isinstance(code, str) or not code:
            _fail(UncodedError, request, response, f"error without extensions.code: {error.get('message')!r}")
    if logged:
        lines = "\n".join(f"{r.levelname} {r.name}: {r.getMessage()}" for r in logged)
        _fail(LoggedError, request, response, f"the server logged errors:\n{lines}")
    text = response.text
    errors_text = json.dumps(errors, ensure_ascii=False)
    for value in [*world.values_a, *world.values_b]:
        if value in errors_text:
            _fail(ValueInError, request, response, f"an error holds the seeded value {value!r}")
    for seeded in world.tokens:
        if seeded in text:
            _fail(TokenLeak, request, response, "the answer holds a seeded token")
    if token == world.token_a:
        for value in world.values_b:
            if value in text:
                _fail(CrossWorkspaceLeak, request, response, f"workspace A's token got workspace B's value {value!r}")


class LogCollector(logging.Handler):
    """Error records of the server while one example runs."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def run_one(world: World, pools: Pools, token: str, request: Request) -> None:
    collector = LogCollector()
    root_logger = logging.getLogger()
    root_logger.addHandler(collector)
    try:
        response = await world.server.client.post(
            "/graphql",
            content=request.body(),
            headers={"content-type": "application/json", "accept": request.accept, "authorization": f"Bearer {token}"},
        )
    finally:
        root_logger.removeHandler(collector)
    check(world, token, request, response, collector.records)
    await check_audit_chains(world, request, response)


INTEGRITY = (
    "{ "
    + " ".join(
        f'w{i}: auditIntegrity(workspaceId: "{w}") {{ valid checkedEvents firstInvalidEventId }}'
        for i, w in enumerate(("default", WS_A, WS_B))
    )
    + " }"
)


async def check_audit_chains(world: World, request: Request, response: httpx.Response) -> None:
    """No request, however hostile, leaves a workspace's audit chain failing verification.

    Denials are committed after their answer (group commit), so the queue is
    drained first: verification running next to a commit is another matter
    (it must not report tampering then either, but that is a race to test on
    its own, not something a fuzzer can pin to one request).
    """
    await world.server.services.audit.drain()
    answer = await world.server.execute(INTEGRITY)
    reports = dict(zip(("default", WS_A, WS_B), (answer.get("data") or {}).values(), strict=False))
    broken = {w: r for w, r in reports.items() if not (r or {}).get("valid")}
    if broken or answer.get("errors"):
        _fail(
            AuditChainBroken,
            request,
            response,
            f"after this example the audit chain does not verify: {broken or answer.get('errors')}",
        )


# --- one hostile argument, every other one valid ---------------------------------------------------
#
# hypothesis-graphql's operations rarely get every argument right at once, so
# a hostile value often meets a refusal of another argument first. Here a
# root field gets valid arguments (the fuzzer's workspace, its secrets, a
# principal it administers, fresh names) but for one argument, or one field
# of an input object, or one item of a list, which gets a hostile value of
# the right GraphQL type. Everything travels as variables.


def valid_argument(world: World, field_name: str, arg_name: str, type_: graphql.GraphQLInputType) -> Any:
    """A value of `type_` for `field_name(arg_name:)` that the server should accept."""
    named = graphql.get_named_type(type_)
    if arg_name == "workspaceId":
        return WS_A
    if arg_name == "id":
        if field_name == "createWorkspace":
            return world.new_name("fuzzws-")
        if field_name == "revokeApiToken":
            return world.a_token_id
        return world.a_secret_ids[world.fresh % len(world.a_secret_ids)]
    if arg_name == "secretId":
        return world.a_secret_ids[0]
    if arg_name == "principalId":
        return world.a_principal_id
    if arg_name == "name":
        if field_name in ("secretByName",):
            return world.a_names[0]
        return world.new_name("fuzzname")
    if arg_name == "names":
        return world.a_names[:2]
    if arg_name == "dotenv":
        return f"{world.new_name('IMPORTED_')}=value\n"
    if arg_name == "bindings":
        return [{"workspaceId": WS_A, "role": "VIEWER"}]
    if arg_name == "newValue":
        return "rotated-by-fuzz"
    if arg_name in ("version", "toVersion"):
        return 1
    if arg_name == "expiresAt":
        return "2030-01-01T00:00:00Z"
    if isinstance(named, graphql.GraphQLInputObjectType):
        if named.name == "CreateSecretInput":
            return {"name": world.new_name("FUZZ_NEW_"), "secretType": "GENERIC", "value": "v"}
        if named.name == "UpdateSecretInput":
            return {"value": "updated-by-fuzz"}
        if named.name == "RoleBindingInput":
            return {"workspaceId": WS_A, "role": "VIEWER"}
        return {}
    if not isinstance(type_, graphql.GraphQLNonNull):
        return None  # optional: left to its default
    return valid_scalar(world, type_.of_type)


def valid_scalar(world: World, type_: graphql.GraphQLInputType) -> Any:
    if isinstance(type_, graphql.GraphQLNonNull):
        return valid_scalar(world, type_.of_type)
    if isinstance(type_, graphql.GraphQLList):
        return [valid_scalar(world, type_.of_type)]
    if isinstance(type_, graphql.GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, graphql.GraphQLInputObjectType):
        return {n: valid_scalar(world, f.type) for n, f in type_.fields.items() if graphql.is_required_input_field(f)}
    return {"String": "x", "ID": WS_A, "Int": 1, "Boolean": False, "DateTime": "2030-01-01T00:00:00Z", "JSON": {}}.get(
        type_.name, "x"
    )


def hostile_value(pools: Pools, world: World, type_: graphql.GraphQLInputType, valid: Any) -> st.SearchStrategy[Any]:
    """A value of `type_` that is well-typed but hostile (or, rarely, of the wrong type)."""
    nullable = not isinstance(type_, graphql.GraphQLNonNull)
    inner = type_.of_type if isinstance(type_, graphql.GraphQLNonNull) else type_
    strategy: st.SearchStrategy[Any]
    if isinstance(inner, graphql.GraphQLList):
        item_valid = valid[0] if isinstance(valid, list) and valid else valid_scalar(world, inner.of_type)
        item = hostile_value(pools, world, inner.of_type, item_valid)
        strategy = st.one_of(
            st.tuples(item, st.integers(min_value=0, max_value=3)).map(lambda pair: [item_valid] * pair[1] + [pair[0]]),
            st.lists(item, max_size=5),
            st.sampled_from([1000, 5000]).map(lambda n: [item_valid] * n),  # long lists
        )
    elif isinstance(inner, graphql.GraphQLInputObjectType):
        base = valid if isinstance(valid, dict) else {}
        names = sorted(inner.fields)
        strategy = st.sampled_from(names).flatmap(
            lambda name: hostile_value(
                pools, world, inner.fields[name].type, base.get(name, valid_scalar(world, inner.fields[name].type))
            ).map(lambda bad: {**base, name: bad})
        )
        strategy = st.one_of(strategy, st.just({**base, "noSuchField": 1}))
    elif isinstance(inner, graphql.GraphQLEnumType):
        strategy = mostly(st.sampled_from(list(inner.values)), pools.strings, one_in=5)
    else:
        strategy = {
            "String": pools.strings,
            "ID": pools.ids,
            "Int": st.one_of(st.sampled_from(INT32_EDGES), st.integers(min_value=-5, max_value=120)),
            "Boolean": st.booleans(),
            "DateTime": st.one_of(
                st.sampled_from(VALID_DATETIMES),
                st.datetimes(timezones=st.sampled_from([None, *FIXED_OFFSETS])).map(lambda d: d.isoformat()),
            ),
            "JSON": pools.json,
        }.get(inner.name, pools.strings)
    wrong = st.one_of(st.none(), st.booleans(), pick(HUGE_INTS), st.just([]), st.just({}), pools.strings)
    return mostly(st.one_of(st.none(), strategy) if nullable else strategy, wrong, one_in=15)


def _selection(type_: graphql.GraphQLOutputType) -> str:
    return "" if graphql.is_leaf_type(graphql.get_named_type(type_)) else " { __typename }"


@st.composite
def one_hostile_argument(draw: st.DrawFn, pools: Pools, world: World, kinds: Sequence[str]) -> Request:
    kind = draw(st.sampled_from(list(kinds)))
    root = schema().mutation_type if kind == "mutation" else schema().query_type
    assert root is not None
    candidates = sorted(name for name, f in root.fields.items() if f.args)
    field_name = draw(st.sampled_from(candidates))
    field_def = root.fields[field_name]
    arg_names = list(field_def.args)
    hostile_arg = draw(st.sampled_from(arg_names))
    variables: dict[str, Any] = {}
    for arg_name in arg_names:
        arg_type = field_def.args[arg_name].type
        value = valid_argument(world, field_name, arg_name, arg_type)
        if arg_name == hostile_arg:
            value = draw(hostile_value(pools, world, arg_type, value), label=f"{field_name}({arg_name}:)")
        if value is not None or arg_name == hostile_arg:
            variables[arg_name] = value
    definitions = ", ".join(f"${n}: {field_def.args[n].type}" for n in variables)
    arguments = ", ".join(f"{n}: ${n}" for n in variables)
    query = f"{kind} Fuzz({definitions}) {{ {field_name}({arguments}){_selection(field_def.type)} }}"
    if not variables:
        query = f"{kind} Fuzz {{ {field_name}{_selection(field_def.type)} }}"
    return Request(query=query, variables=variables, accept=draw(st.sampled_from(JSON_TYPES)))


# --- the fuzz tests ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.asyncio
@fuzz_settings(default_examples=70)
@given(data=st.data())
async def test_fuzz_queries_with_a_workspace_a_token(world: World, data: st.DataObject) -> None:
    pools = world.pools
    assert pools is not None
    request = data.draw(requests(pools, ["query"]), label="request")
    await run_one(world, pools, world.token_a, request)


@pytest.mark.slow
@pytest.mark.asyncio
@fuzz_settings(default_examples=70)
@given(data=st.data())
async def test_fuzz_mutations_with_a_workspace_a_token(world: World, data: st.DataObject) -> None:
    pools = world.pools
    assert pools is not None
    request = data.draw(requests(pools, ["mutation"]), label="request")
    await run_one(world, pools, world.token_a, request)


@pytest.mark.slow
@pytest.mark.asyncio
@fuzz_settings(default_examples=40)
@given(data=st.data())
async def test_fuzz_everything_as_superadmin(world: World, data: st.DataObject) -> None:
    pools = world.pools
    assert pools is not None
    request = data.draw(requests(pools, ["query", "mutation"]), label="request")
    await run_one(world, pools, ADMIN_TOKEN, request)


@pytest.mark.slow
@pytest.mark.asyncio
@fuzz_settings(default_examples=90)
@given(data=st.data())
async def test_fuzz_one_hostile_argument_with_a_workspace_a_token(world: World, data: st.DataObject) -> None:
    pools = world.pools
    assert pools is not None
    request = data.draw(one_hostile_argument(pools, world, ["query", "mutation"]), label="request")
    await run_one(world, pools, world.token_a, request)


@pytest.mark.slow
@pytest.mark.asyncio
@fuzz_settings(default_examples=40)
@given(data=st.data())
async def test_fuzz_one_hostile_argument_as_superadmin(world: World, data: st.DataObject) -> None:
    pools = world.pools
    assert pools is not None
    request = data.draw(one_hostile_argument(pools, world, ["query", "mutation"]), label="request")
    await run_one(world, pools, ADMIN_TOKEN, request)
