"""Self-metrics for Prometheus: rrdd's event counts, a few gauges and a flush histogram.

rrdd counts what happens in one `events.Counts`, which only the main thread changes.
Nothing here touches that hot path: `Metrics` is a prometheus_client collector that
copies the counts when /metrics is scraped and builds the metric families then, each
event into the family and label that events.Event declares for it (events.FAMILIES
holds their help texts). Every family is shown, and every label value an event gives
by itself, at 0 before the first event; so are the kinds of rrdd_messages_total.

Besides: ``rrdd_build_info{version} 1``; the gauges whose callbacks the caller hands over
(`GAUGES` declares each one); ``rrdd_flush_duration_seconds``, a histogram fed by
`Metrics.observe_flush`. No series carries a host label, and none has a ``_created``
twin, because every family is built here without a creation time.

Several processes, one /metrics: what a process has counted and measures is a `Figures`
value, which travels as JSON (a worker's report to the router of --workers, a snapshot
in state_dir for the other channel's rrdd, see sharing.py). `merge` makes one of many,
as prometheus_client's MultiProcessCollector.merge does: counts and the histogram are
summed, and each gauge is combined by the rule `GAUGES`
declares for it (sum, max or min). ``rrdd_processes`` says how many processes the
figures come from.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from rrdd import events
from rrdd.channel import CONTROLS
from rrdd.errors import StartError
from rrdd.events import FAMILIES, Counts, Key, labels_of
from rrdd.settings import split_address

log = logging.getLogger("rrdd.metrics")


# Label values shown at 0 before their first event, besides those events give by
# themselves: the message kinds, counted with their kind as the label.
SHOWN_AT_ZERO: dict[str, tuple[str, ...]] = {
    "rrdd_messages_total": ("status", "data", *CONTROLS),
}


@dataclass(frozen=True, slots=True)
class _Gauge:
    help: str
    merge: Callable[[list[float]], float]  # several processes' values -> one


GAUGES: dict[str, _Gauge] = {
    "rrdd_cache_pending_values": _Gauge("Update rows held in the cache, not yet written.", sum),
    "rrdd_cache_files": _Gauge("RRD files with rows waiting in the cache.", sum),
    "rrdd_last_message_timestamp_seconds": _Gauge(
        "Unix time when the last channel message was read.", max
    ),
    "rrdd_rrdcached_connected": _Gauge(
        "1 while rrdd (every process of it) has a connection to rrdcached, else 0.", min
    ),
    "rrdd_processes": _Gauge(
        "rrdd processes whose figures these are: the workers of --workers and their router, "
        "and the other rrdd processes that share state_dir and metrics_listen.",
        sum,
    ),
}

# From 1 ms (a sync with one file) to 10 min: a full flush of a big cache at shutdown can
# take minutes (xymond_rrd users report eight).
FLUSH_BUCKETS: tuple[float, ...] = (
    0.001,
    0.005,
    0.01,
    0.05,
    0.1,
    0.5,
    1.0,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
)


class ListenError(StartError):
    """/metrics cannot be served on the address; `in_use` when another process has it."""

    def __init__(self, message: str, cause: OSError):
        super().__init__(message)
        self.in_use = cause.errno == errno.EADDRINUSE


@dataclass(frozen=True, slots=True)
class Figures:
    """What one rrdd process has counted and measures now, or several processes merged."""

    counters: dict[Key, int]  # by event and the label given when counted
    gauges: dict[str, float]  # by metric name, each one of GAUGES
    buckets: tuple[int, ...]  # flushes in each FLUSH_BUCKETS bucket, then +Inf (not cumulative)
    flush_seconds: float  # the histogram's sum

    @classmethod
    def counting(cls, counts: Mapping[Key, int]) -> Figures:
        """Counts alone: no gauge, no flush."""
        return cls(dict(counts), {}, (0,) * (len(FLUSH_BUCKETS) + 1), 0.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "counters": events.to_json(self.counters),
            "gauges": self.gauges,
            "buckets": list(self.buckets),
            "flush_seconds": self.flush_seconds,
        }

    @classmethod
    def from_json(cls, data: Any) -> Figures:
        """The figures `to_json` gave; ValueError when `data` is not such a thing (a file
        of another rrdd version, say). A gauge or an event this version does not know is
        left out."""
        try:
            counters = events.from_json(data["counters"])
            gauges = {k: float(v) for k, v in data["gauges"].items() if k in GAUGES}
            buckets = tuple(int(n) for n in data["buckets"])
            flush_seconds = float(data["flush_seconds"])
        except (TypeError, KeyError, AttributeError, ValueError) as e:
            raise ValueError(f"not rrdd's figures: {e!r}") from None
        if len(buckets) != len(FLUSH_BUCKETS) + 1:
            raise ValueError("not rrdd's figures: another set of flush buckets")
        return cls(counters, gauges, buckets, flush_seconds)


def merge(parts: Iterable[Figures]) -> Figures:
    """One Figures of many: counts and flushes summed, each gauge by its GAUGES rule
    over the parts that have it."""
    counters: dict[Key, int] = {}
    values: dict[str, list[float]] = {}
    buckets = [0] * (len(FLUSH_BUCKETS) + 1)
    flush_seconds = 0.0
    for part in parts:
        for key, count in part.counters.items():
            counters[key] = counters.get(key, 0) + count
        for name, value in part.gauges.items():
            values.setdefault(name, []).append(value)
        buckets = [a + b for a, b in zip(buckets, part.buckets, strict=True)]
        flush_seconds += part.flush_seconds
    gauges = {name: float(GAUGES[name].merge(v)) for name, v in values.items()}
    return Figures(counters, gauges, tuple(buckets), flush_seconds)


class Metrics:
    """rrdd's Prometheus collector, its registry and the HTTP server that exposes it.

    `counts` is read, never changed. Each callback in `gauges` (keyed by a metric name of
    `GAUGES`; more may be added to `.gauges` later) is called from another thread (the
    HTTP server's, the state_dir snapshots') so it must be quick and only read. A callback
    that raises, or one added later under a name GAUGES lacks, is left out. Without
    `registry`, a new one is made that also holds prometheus_client's process, platform
    and gc collectors (process_resident_memory_bytes and friends: of this process alone).

    What a scrape shows: `figures()` (this process's own, merged with `more()`, the
    workers of --workers) merged with `siblings()` (other rrdd processes' snapshots).
    """

    def __init__(
        self,
        counts: Counts,
        *,
        version: str,
        gauges: Mapping[str, Callable[[], float]] | None = None,
        registry: CollectorRegistry | None = None,
    ):
        self.counts = counts
        self.version = version
        self.gauges = dict(gauges or {})
        for name in self.gauges:
            if name not in GAUGES:
                raise ValueError(f"not a gauge name for rrdd: {name!r}")
        self._failing: set[str] = set()
        self._lock = threading.Lock()  # observe_flush runs in the writer, collect() elsewhere
        self._buckets = [0] * (len(FLUSH_BUCKETS) + 1)  # the last one is +Inf
        self._flush_sum = 0.0
        self.more: Callable[[], list[Figures]] = list
        self.siblings: Callable[[], list[Figures]] = list
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        if registry is None:
            registry = CollectorRegistry()
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)
        self.registry = registry
        registry.register(self)

    def observe_flush(self, seconds: float) -> None:
        """Record one flush: a pass that handed cached rows to the RRD files or rrdcached."""
        i = 0
        while i < len(FLUSH_BUCKETS) and seconds > FLUSH_BUCKETS[i]:
            i += 1
        with self._lock:
            self._buckets[i] += 1
            self._flush_sum += seconds

    def own(self) -> Figures:
        """This process's figures now: its counts, its gauges and its flushes."""
        counters = self.counts.snapshot()
        gauges = {"rrdd_processes": 1.0}
        # A copy, since the caller may add gauges meanwhile.
        for name, read in list(self.gauges.items()):
            try:
                if name not in GAUGES:
                    raise ValueError(f"not a gauge name for rrdd: {name!r}")
                gauges[name] = float(read())
            except Exception:
                # A scrape must not fail because of one callback; say it once, not each time.
                if name not in self._failing:
                    self._failing.add(name)
                    log.warning("Metric %r left out of /metrics", name, exc_info=True)
                continue
            self._failing.discard(name)
        with self._lock:
            buckets, flush_seconds = tuple(self._buckets), self._flush_sum
        return Figures(counters, gauges, buckets, flush_seconds)

    def figures(self) -> Figures:
        """What this process speaks for: its own figures and its workers'."""
        more = self.more()
        return merge([self.own(), *more]) if more else self.own()

    # --- the collector ---------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        figures = merge([self.figures(), *self.siblings()])
        values: dict[str, dict[str, float]] = {
            name: dict.fromkeys((*labels_of(name), *SHOWN_AT_ZERO.get(name, ())), 0.0)
            for name in FAMILIES
        }
        for (event, label), count in figures.counters.items():
            series = values[event.family]
            label = event.label if event.label is not None else label
            series[label] = series.get(label, 0.0) + count
        for name, family in FAMILIES.items():
            if family.label is None:
                yield CounterMetricFamily(name, family.help, value=values[name].get("", 0.0))
                continue
            metric = CounterMetricFamily(name, family.help, labels=(family.label,))
            for label, total in sorted(values[name].items()):
                metric.add_metric((label,), total)
            yield metric
        for name, value in sorted(figures.gauges.items()):
            yield GaugeMetricFamily(name, GAUGES[name].help, value=value)
        yield _histogram(figures)
        info = GaugeMetricFamily("rrdd_build_info", "rrdd's version.", labels=("version",))
        info.add_metric((self.version,), 1.0)
        yield info

    # --- the HTTP server --------------------------------------------------------------

    @property
    def serving(self) -> bool:
        return self._server is not None

    def serve(self, address: str) -> None:
        """Serve /metrics on ``HOST:PORT`` or ``[IPV6]:PORT`` from a daemon thread.

        A bad address raises ConfigError; a port in use or any other failure to listen
        raises ListenError, which says why.
        """
        host, port = split_address(address)
        if self._server is not None:
            raise StartError("/metrics is already being served")
        try:
            self._server, self._thread = start_http_server(port, host, self.registry)
        except OSError as e:
            raise ListenError(f"cannot serve /metrics on {address}: {_why(e)}", e) from e

    def close(self) -> None:
        """Stop the HTTP server, if it runs."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None


def _histogram(figures: Figures) -> Metric:
    buckets: list[tuple[str, float]] = []
    cumulative = 0
    for bound, count in zip((*FLUSH_BUCKETS, float("inf")), figures.buckets, strict=True):
        cumulative += count
        buckets.append(("+Inf" if bound == float("inf") else repr(bound), float(cumulative)))
    return HistogramMetricFamily(
        "rrdd_flush_duration_seconds",
        "Time taken by each flush of cached rows.",
        buckets=buckets,
        sum_value=figures.flush_seconds,
    )


def _why(e: OSError) -> str:
    if isinstance(e, socket.gaierror):
        return f"unknown host ({e.strerror})"
    if e.errno == errno.EADDRINUSE:
        return "the port is already in use"
    if e.errno == errno.EADDRNOTAVAIL:
        return "no such address on this machine"
    if e.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges)"
    return e.strerror or str(e)
