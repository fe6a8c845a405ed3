"""Counters and histograms for the hot path, exposed through prometheus-client.

Why not prometheus-client's own Counter and Histogram: each `inc` and
`observe` takes a lock per value (a histogram two), and walks its buckets in
Python; measured, an observe cost ten times what these do, and a value read
makes three of them. Everything here is changed and read in the event loop's
thread (the transports, the audit flush, the scrape), so there is nothing to
lock; a histogram finds its bucket with `bisect` (C). The exposition is
still prometheus-client's: `families()` yields its CounterMetricFamily and
HistogramMetricFamily, rendered by its encoders from the same registry as the
process collectors.

Children are resolved once (`labels(...)`) and kept by their callers; a
family holds at most `max_children` of them (labels are bounded by design,
this is the backstop: beyond it, observations go to one child labelled
"other" everywhere).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence

from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

MAX_CHILDREN = 1000
OVERFLOW = "other"


class CounterChild:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        self.value += amount


class HistogramChild:
    __slots__ = ("_bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        # One slot per finite bound (le), then +Inf; not cumulative until scraped.
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, amount: float) -> None:
        self.counts[bisect_left(self._bounds, amount)] += 1
        self.total += amount


class _Family:
    def __init__(self, name: str, documentation: str, labelnames: Sequence[str], max_children: int) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._max_children = max_children
        self._children: dict[tuple[str, ...], object] = {}

    def _child(self, values: tuple[str, ...], make: Callable[[], object]) -> object:
        child = self._children.get(values)
        if child is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"{self.name} takes labels {self.labelnames}")
            if len(self._children) >= self._max_children:
                values = (OVERFLOW,) * len(self.labelnames)
                child = self._children.get(values)
            if child is None:
                child = self._children[values] = make()
        return child


class CounterFamily(_Family):
    """A counter with labels; exposed as `<name>_total`."""

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str] = (), max_children: int = MAX_CHILDREN
    ) -> None:
        super().__init__(name, documentation, labelnames, max_children)

    def labels(self, *values: str) -> CounterChild:
        child = self._child(values, CounterChild)
        assert isinstance(child, CounterChild)
        return child

    def family(self) -> Metric:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, child in sorted(self._children.items()):
            assert isinstance(child, CounterChild)
            family.add_metric(list(values), child.value)
        return family


class HistogramFamily(_Family):
    """A histogram with labels and fixed buckets (`le`, cumulative when exposed)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        *,
        buckets: Sequence[float],
        max_children: int = MAX_CHILDREN,
    ) -> None:
        super().__init__(name, documentation, labelnames, max_children)
        bounds = tuple(sorted(float(b) for b in buckets if b != float("inf")))
        if not bounds:
            raise ValueError("a histogram needs at least one finite bucket")
        self.bounds = bounds
        self._labels = tuple(floatToGoString(b) for b in bounds) + ("+Inf",)  # type: ignore[no-untyped-call]  # prometheus_client

    def labels(self, *values: str) -> HistogramChild:
        child = self._child(values, lambda: HistogramChild(self.bounds))
        assert isinstance(child, HistogramChild)
        return child

    def family(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, child in sorted(self._children.items()):
            assert isinstance(child, HistogramChild)
            cumulative, running = [], 0
            for label, count in zip(self._labels, child.counts, strict=True):
                running += count
                cumulative.append((label, float(running)))
            family.add_metric(list(values), cumulative, child.total)
        return family


class Instruments:
    """A collector over families (register it on a CollectorRegistry)."""

    def __init__(self) -> None:
        self._families: list[CounterFamily | HistogramFamily] = []

    def add(self, family: CounterFamily | HistogramFamily) -> None:
        self._families.append(family)

    def collect(self) -> Iterator[Metric]:
        for family in self._families:
            yield family.family()
