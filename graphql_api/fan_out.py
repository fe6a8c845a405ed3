"""Subscription fan-out: one completion of an event per document, shared by
every subscriber of that document.

Why: 500 subscribers of `auditEvents` each ran graphql-core's executor over
the same event with the same selection set, and the worker spent its core
completing identical results. Each live event now becomes one payload object
(`SharedPayloads`, used by the subscription resolvers) and one result per
(document, operation, variables) (`SharedResults`, used by
`Engine.subscribe`); the first subscriber to reach an event completes it,
the others reuse the result.

What stays per subscriber: authentication, authorization, the authority
lease that ends the stream, the secret and name filters, the queue and its
overflow. A payload type opts in with `shared_across_subscribers = True`,
which says that none of its fields reads the context (who is asking); only
error-free results are shared.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from graphql import ExecutionResult

T = TypeVar("T")

PAYLOADS_KEPT = 2048
RESULTS_KEPT = 4096


class SharedPayloads(Generic[T]):
    """The payload made from one event, made once (bounded, newest kept)."""

    def __init__(self, make: Callable[[Any], T], size: int = PAYLOADS_KEPT) -> None:
        self._make = make
        self._size = size
        self._made: OrderedDict[Hashable, T] = OrderedDict()

    def get(self, key: Hashable, event: Any) -> T:
        made = self._made.get(key)
        if made is None and key not in self._made:
            made = self._made[key] = self._make(event)
            if len(self._made) > self._size:
                self._made.popitem(last=False)
        return made  # type: ignore[return-value]  # None is a payload too (an event that yields nothing)


def is_shared(payload: object) -> bool:
    return bool(getattr(type(payload), "shared_across_subscribers", False))


class SharedResults:
    """Completed results by (payload, document, operation, variables).

    Entries hold the payload and the document they were made from, so
    neither can be collected and its id reused for another while the entry
    is kept.
    """

    def __init__(self, size: int = RESULTS_KEPT) -> None:
        self._size = size
        self._results: OrderedDict[tuple[int, Hashable], tuple[object, object, ExecutionResult]] = OrderedDict()
        self.completed = 0
        self.reused = 0

    def get(self, payload: object, document: object, key: Hashable) -> ExecutionResult | None:
        entry = self._results.get((id(payload), key))
        if entry is None or entry[0] is not payload or entry[1] is not document:
            return None
        self.reused += 1
        return entry[2]

    def put(self, payload: object, document: object, key: Hashable, result: ExecutionResult) -> None:
        self.completed += 1
        if result.errors:
            return
        self._results[(id(payload), key)] = (payload, document, result)
        if len(self._results) > self._size:
            self._results.popitem(last=False)
