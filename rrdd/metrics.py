"""Self-metrics for Prometheus: rrdd's event counts, a few gauges and a flush histogram.

rrdd counts what happens in one ``Counter[str]``, `stats`, which only the main thread
changes. Nothing here touches that hot path: `Metrics` is a prometheus_client collector
that reads the Counter when /metrics is scraped and builds the metric families then.

How stats keys become series (names follow https://prometheus.io/docs/practices/naming)::

    messages_<kind>, controls_<kind>  rrdd_messages_total{kind}        status, data, drophost...
    updates_<handler>                 rrdd_updates_total{handler}      updates a handler made
    parse_errors_<handler>            rrdd_parse_errors_total{handler}
    unhandled_tests, reverse_tests,   rrdd_messages_ignored_total{reason}
      ignored_color                     no_handler, reverse_test, color
    garbage, duplicate, bad_checksum, rrdd_channel_errors_total{reason}
      oversize, unterminated,           ... short, unknown
      ignored_short, ignored_unknown
    rrd_open_errors, updates_rejected, rrdd_write_errors_total{reason}
      updates_refused, ds_mismatches,   open, rejected, refused, ds_mismatch,
      disk_errors, creator_crashes      disk, creator_crash
    updates_dropped_old               rrdd_updates_dropped_total{reason="old_timestamp"}
    rrd_creates, creates_deferred     rrdd_rrd_creates_total, rrdd_rrd_creates_deferred_total
    rrd_writes, values_written        rrdd_rrd_writes_total, rrdd_values_written_total
    extra_runs, extra_timeouts        rrdd_extra_script_runs_total, ..._timeouts_total
    processor_lines(_lost)            rrdd_processor_lines_total, ..._lines_lost_total
    rrdcached_reconnects              rrdd_rrdcached_reconnects_total
    any other key                     rrdd_events_total{event="<key>"}

The exact keys are matched before the prefixes, so ``updates_rejected`` is a write error
and not the updates of a handler called "rejected". A key that nothing matches still
reaches Prometheus through rrdd_events_total; give it a proper name in `_EXACT` when it
settles.

Besides: ``rrdd_build_info{version} 1``; the gauges whose callbacks the caller hands over
(`GAUGES` declares each one); ``rrdd_flush_duration_seconds``, a histogram fed by
`Metrics.observe_flush`. No series carries a host label, and none has a ``_created``
twin, because every family is built here without a creation time.

Several processes, one /metrics: what a process has counted and measures is a `Figures`
value, which travels as JSON (a worker's report to the router of --workers, a snapshot
in state_dir for the other channel's rrdd, see sharing.py). `merge` makes one of many:
counters and the histogram are summed, and each gauge is combined by the rule `GAUGES`
declares for it (sum, max or min). ``rrdd_processes`` says how many processes the
figures come from.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
from collections import Counter
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

from rrdd.channel import CONTROLS
from rrdd.errors import StartError
from rrdd.settings import split_address

log = logging.getLogger("rrdd.metrics")


@dataclass(frozen=True, slots=True)
class _Family:
    help: str
    label: str | None = None
    known: tuple[str, ...] = ()  # label values shown as 0 before their first event


_FAMILIES: dict[str, _Family] = {
    "rrdd_messages_total": _Family(
        "Channel messages read, by kind (status, data or a control message).",
        "kind",
        ("status", "data", *CONTROLS),
    ),
    "rrdd_messages_ignored_total": _Family(
        "Messages read but not written: no handler for the test, a reverse test, or a "
        "status colour without fresh data (purple).",
        "reason",
        ("no_handler", "reverse_test", "color"),
    ),
    "rrdd_channel_errors_total": _Family(
        "Damaged or unreadable input on the channel, by what was wrong.",
        "reason",
        ("garbage", "duplicate", "bad_checksum", "oversize", "unterminated", "short", "unknown"),
    ),
    "rrdd_updates_total": _Family("RRD updates made by each handler.", "handler"),
    "rrdd_parse_errors_total": _Family("Messages a handler could not read.", "handler"),
    "rrdd_write_errors_total": _Family(
        "Writer failures: open (a file not opened or created), rejected (by librrd or "
        "rrdcached), refused (unsafe name, a string librrd must not get), ds_mismatch (no "
        "such DS), disk (a create or write the disk refused: its values are kept and tried "
        "again), creator_crash (a file refused: its creation killed a worker process).",
        "reason",
        ("open", "rejected", "refused", "ds_mismatch", "disk", "creator_crash"),
    ),
    "rrdd_updates_dropped_total": _Family(
        "Updates dropped on purpose, such as one not newer than the file's last update.",
        "reason",
        ("old_timestamp",),
    ),
    "rrdd_rrd_creates_total": _Family("RRD files created."),
    "rrdd_rrd_creates_deferred_total": _Family(
        "New RRD files whose creation waited for the create ceiling."
    ),
    "rrdd_rrd_writes_total": _Family("Writes of cached values to an RRD file or rrdcached."),
    "rrdd_values_written_total": _Family("Update rows written to RRD files or rrdcached."),
    "rrdd_rrdcached_reconnects_total": _Family("Connections made again to rrdcached."),
    "rrdd_extra_script_runs_total": _Family("Messages answered by the --extra-script."),
    "rrdd_extra_script_timeouts_total": _Family("--extra-script runs killed at the timeout."),
    "rrdd_processor_lines_total": _Family("Lines copied to the --processor command."),
    "rrdd_processor_lines_lost_total": _Family("Lines the --processor command did not get."),
    "rrdd_events_total": _Family("Other events rrdd counts, by their internal name.", "event"),
}

# stats key -> (family, label value); a family without a label takes "".
_EXACT: dict[str, tuple[str, str]] = {
    "unhandled_tests": ("rrdd_messages_ignored_total", "no_handler"),
    "reverse_tests": ("rrdd_messages_ignored_total", "reverse_test"),
    "ignored_color": ("rrdd_messages_ignored_total", "color"),
    "garbage": ("rrdd_channel_errors_total", "garbage"),
    "duplicate": ("rrdd_channel_errors_total", "duplicate"),
    "bad_checksum": ("rrdd_channel_errors_total", "bad_checksum"),
    "oversize": ("rrdd_channel_errors_total", "oversize"),
    "unterminated": ("rrdd_channel_errors_total", "unterminated"),
    "ignored_short": ("rrdd_channel_errors_total", "short"),
    "ignored_unknown": ("rrdd_channel_errors_total", "unknown"),
    "rrd_open_errors": ("rrdd_write_errors_total", "open"),
    "updates_rejected": ("rrdd_write_errors_total", "rejected"),
    "updates_refused": ("rrdd_write_errors_total", "refused"),
    "ds_mismatches": ("rrdd_write_errors_total", "ds_mismatch"),
    "disk_errors": ("rrdd_write_errors_total", "disk"),
    "creator_crashes": ("rrdd_write_errors_total", "creator_crash"),
    "updates_dropped_old": ("rrdd_updates_dropped_total", "old_timestamp"),
    "rrd_creates": ("rrdd_rrd_creates_total", ""),
    "creates_deferred": ("rrdd_rrd_creates_deferred_total", ""),
    "rrd_writes": ("rrdd_rrd_writes_total", ""),
    "values_written": ("rrdd_values_written_total", ""),
    "rrdcached_reconnects": ("rrdd_rrdcached_reconnects_total", ""),
    "extra_runs": ("rrdd_extra_script_runs_total", ""),
    "extra_timeouts": ("rrdd_extra_script_timeouts_total", ""),
    "processor_lines": ("rrdd_processor_lines_total", ""),
    "processor_lines_lost": ("rrdd_processor_lines_lost_total", ""),
}

_PREFIXES: tuple[tuple[str, str], ...] = (
    ("messages_", "rrdd_messages_total"),
    ("controls_", "rrdd_messages_total"),
    ("parse_errors_", "rrdd_parse_errors_total"),
    ("updates_", "rrdd_updates_total"),
)


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


def _family_of(key: str) -> tuple[str, str]:
    found = _EXACT.get(key)
    if found is not None:
        return found
    for prefix, family in _PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix):
            return family, key[len(prefix) :]
    return "rrdd_events_total", key


class ListenError(StartError):
    """/metrics cannot be served on the address; `in_use` when another process has it."""

    def __init__(self, message: str, cause: OSError):
        super().__init__(message)
        self.in_use = cause.errno == errno.EADDRINUSE


@dataclass(frozen=True, slots=True)
class Figures:
    """What one rrdd process has counted and measures now, or several processes merged."""

    counters: dict[str, int]  # the stats keys
    gauges: dict[str, float]  # by metric name, each one of GAUGES
    buckets: tuple[int, ...]  # flushes in each FLUSH_BUCKETS bucket, then +Inf (not cumulative)
    flush_seconds: float  # the histogram's sum

    @classmethod
    def counting(cls, stats: Mapping[str, int]) -> Figures:
        """Counts alone: no gauge, no flush."""
        return cls(dict(stats), {}, (0,) * (len(FLUSH_BUCKETS) + 1), 0.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "counters": self.counters,
            "gauges": self.gauges,
            "buckets": list(self.buckets),
            "flush_seconds": self.flush_seconds,
        }

    @classmethod
    def from_json(cls, data: Any) -> Figures:
        """The figures `to_json` gave; ValueError when `data` is not such a thing (a file
        of another rrdd version, say). A gauge this version does not know is left out."""
        try:
            counters = {str(k): int(v) for k, v in data["counters"].items()}
            gauges = {k: float(v) for k, v in data["gauges"].items() if k in GAUGES}
            buckets = tuple(int(n) for n in data["buckets"])
            flush_seconds = float(data["flush_seconds"])
        except (TypeError, KeyError, AttributeError, ValueError) as e:
            raise ValueError(f"not rrdd's figures: {e!r}") from None
        if len(buckets) != len(FLUSH_BUCKETS) + 1:
            raise ValueError("not rrdd's figures: another set of flush buckets")
        return cls(counters, gauges, buckets, flush_seconds)


def merge(parts: Iterable[Figures]) -> Figures:
    """One Figures of many: counters and flushes summed, each gauge by its GAUGES rule
    over the parts that have it."""
    counters: dict[str, int] = {}
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

    `stats` is read, never changed. Each callback in `gauges` (keyed by a metric name of
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
        stats: Counter[str],
        *,
        version: str,
        gauges: Mapping[str, Callable[[], float]] | None = None,
        registry: CollectorRegistry | None = None,
    ):
        self.stats = stats
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
        # dict() copies the Counter in one C call, so a key the main thread adds meanwhile
        # cannot break a later iteration.
        counters = dict(self.stats)
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
            name: dict.fromkeys(family.known, 0.0) for name, family in _FAMILIES.items()
        }
        for key, count in figures.counters.items():
            name, label = _family_of(key)
            values[name][label] = values[name].get(label, 0.0) + count
        for name, family in _FAMILIES.items():
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
