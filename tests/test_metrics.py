"""rrdd.metrics: declared events as Prometheus series, gauges, the flush histogram, /metrics."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from rrdd.errors import ConfigError, StartError
from rrdd.events import FAMILIES, Counts, Event, Key
from rrdd.metrics import (
    FLUSH_BUCKETS,
    GAUGES,
    Figures,
    ListenError,
    Metrics,
    merge,
)
from rrdd.settings import split_address


@pytest.fixture
def counts() -> Counts:
    return Counts()


@pytest.fixture
def metrics(counts: Counts) -> Iterator[Metrics]:
    m = Metrics(counts, version="1.2.3", registry=CollectorRegistry())
    yield m
    m.close()


def value(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_counters_follow_the_counts(counts: Counts, metrics: Metrics) -> None:
    assert value(metrics, "rrdd_messages_total", kind="status") == 0
    counts.add(Event.MESSAGES, 3, "status")
    counts.add(Event.MESSAGES, 1, "data")
    counts.add(Event.CONTROLS, 2, "drophost")
    counts.add(Event.UPDATES, 5, "la")
    counts.add(Event.UPDATES, 1, "extra")
    counts.add(Event.PARSE_ERRORS, 1, "disk")
    counts.add(Event.RRD_CREATES, 4)
    counts.add(Event.EXTRA_RUNS, 6)
    counts.add(Event.EXTRA_TIMEOUTS)
    counts.add(Event.PROCESSOR_LINES, 9)
    assert value(metrics, "rrdd_messages_total", kind="status") == 3
    assert value(metrics, "rrdd_messages_total", kind="data") == 1
    assert value(metrics, "rrdd_messages_total", kind="drophost") == 2
    assert value(metrics, "rrdd_updates_total", handler="la") == 5
    assert value(metrics, "rrdd_updates_total", handler="extra") == 1
    assert value(metrics, "rrdd_parse_errors_total", handler="disk") == 1
    assert value(metrics, "rrdd_rrd_creates_total") == 4
    assert value(metrics, "rrdd_extra_script_runs_total") == 6
    assert value(metrics, "rrdd_extra_script_timeouts_total") == 1
    assert value(metrics, "rrdd_processor_lines_total") == 9
    counts.add(Event.MESSAGES, 1, "status")
    assert value(metrics, "rrdd_messages_total", kind="status") == 4


@pytest.mark.parametrize("event", list(Event), ids=lambda e: e.name)
def test_each_event_is_counted_in_its_family_and_label(event: Event) -> None:
    counts = Counts()
    m = Metrics(counts, version="1", registry=CollectorRegistry())
    label = "given" if event.label is None else ""
    counts.add(event, 2, label)
    labels = {}
    family = FAMILIES[event.family]
    if family.label is not None:
        labels[family.label] = event.label or label
    assert value(m, event.family, **labels) == 2


def test_lost_values_have_families_of_their_own(counts: Counts, metrics: Metrics) -> None:
    counts.add(Event.VALUES_SHED, 3)
    counts.add(Event.UPDATES_REJECTED, 2)
    counts.add(Event.UPDATES_REFUSED, 1)
    counts.add(Event.UPDATES_DROPPED_OLD, 5)
    counts.add(Event.UPDATES, 7, "rejected")  # a handler of that name is only a handler
    assert value(metrics, "rrdd_values_lost_total", reason="shed") == 3
    assert value(metrics, "rrdd_values_lost_total", reason="rejected") == 2
    assert value(metrics, "rrdd_values_lost_total", reason="refused") == 1
    assert value(metrics, "rrdd_updates_dropped_total", reason="old_timestamp") == 5
    assert value(metrics, "rrdd_updates_total", handler="rejected") == 7
    assert value(metrics, "rrdd_write_errors_total", reason="rejected") is None


def test_channel_problems_and_ignored_messages(counts: Counts, metrics: Metrics) -> None:
    for event in (Event.GARBAGE, Event.DUPLICATE, Event.BAD_CHECKSUM, Event.OVERSIZE):
        counts.add(event)
        assert value(metrics, "rrdd_channel_errors_total", reason=event.key) == 1
    counts.add(Event.IGNORED_SHORT, 2)
    counts.add(Event.IGNORED_UNKNOWN, 3)
    counts.add(Event.IGNORED_COLOR, 4)
    counts.add(Event.UNHANDLED_TESTS, 5)
    counts.add(Event.REVERSE_TESTS, 6)
    assert value(metrics, "rrdd_channel_errors_total", reason="short") == 2
    assert value(metrics, "rrdd_channel_errors_total", reason="unknown") == 3
    assert value(metrics, "rrdd_messages_ignored_total", reason="color") == 4
    assert value(metrics, "rrdd_messages_ignored_total", reason="no_handler") == 5
    assert value(metrics, "rrdd_messages_ignored_total", reason="reverse_test") == 6


def test_known_series_start_at_zero(metrics: Metrics) -> None:
    for kind in ("status", "data", "drophost", "renamehost", "droptest", "renametest"):
        assert value(metrics, "rrdd_messages_total", kind=kind) == 0
    for kind in ("shutdown", "logrotate", "reload", "idle"):
        assert value(metrics, "rrdd_messages_total", kind=kind) == 0
    for reason in ("ds_mismatch", "disk", "creator_crash"):
        assert value(metrics, "rrdd_write_errors_total", reason=reason) == 0
    for reason in ("shed", "rejected", "refused", "open", "create_failed", "disk"):
        assert value(metrics, "rrdd_values_lost_total", reason=reason) == 0
    assert value(metrics, "rrdd_rrd_creates_total") == 0
    assert value(metrics, "rrdd_processor_lines_lost_total") == 0
    assert value(metrics, "rrdd_events_total") is None  # no catch-all any more


def test_no_created_series_and_no_host_label(counts: Counts) -> None:
    counts.add(Event.MESSAGES, 1, "status")
    counts.add(Event.UPDATES, 1, "la")
    m = Metrics(counts, version="1", gauges={"rrdd_cache_files": lambda: 1})
    m.observe_flush(0.5)
    families = list(text_string_to_metric_families(generate_latest(m.registry).decode()))
    names = {s.name for f in families for s in f.samples}
    assert not [n for n in names if n.endswith("_created")]
    assert not [s for f in families for s in f.samples if "host" in s.labels]
    # The default registry adds prometheus_client's own collectors.
    assert "python_info" in names


def test_build_info(metrics: Metrics) -> None:
    assert value(metrics, "rrdd_build_info", version="1.2.3") == 1


def test_gauges_are_read_at_scrape_time(counts: Counts) -> None:
    pending = [10.0]
    gauges = {
        "rrdd_cache_pending_values": lambda: pending[0],
        "rrdd_cache_files": lambda: 3,
        "rrdd_last_message_timestamp_seconds": lambda: 1_700_000_000.5,
    }
    m = Metrics(counts, version="1", gauges=gauges, registry=CollectorRegistry())
    assert value(m, "rrdd_cache_pending_values") == 10
    pending[0] = 12
    assert value(m, "rrdd_cache_pending_values") == 12
    assert value(m, "rrdd_cache_files") == 3
    assert value(m, "rrdd_last_message_timestamp_seconds") == 1_700_000_000.5
    assert value(m, "rrdd_rrdcached_connected") is None  # only when given


def test_failing_gauge_is_left_out(counts: Counts, caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> float:
        raise RuntimeError("dictionary changed size during iteration")

    gauges = {"rrdd_rrdcached_connected": broken, "rrdd_cache_files": lambda: 2}
    m = Metrics(counts, version="1", gauges=gauges, registry=CollectorRegistry())
    generate_latest(m.registry)
    generate_latest(m.registry)
    assert value(m, "rrdd_rrdcached_connected") is None
    assert value(m, "rrdd_cache_files") == 2
    assert len([r for r in caplog.records if "rrdd_rrdcached_connected" in r.message]) == 1


def test_gauges_added_later(counts: Counts, caplog: pytest.LogCaptureFixture) -> None:
    m = Metrics(counts, version="1", registry=CollectorRegistry())
    assert value(m, "rrdd_cache_files") is None
    m.gauges["rrdd_cache_files"] = lambda: 5
    m.gauges["rrdd_messages_total"] = lambda: 1  # not a gauge: left out, the scrape works
    m.gauges["not rrdd's"] = lambda: 1
    text = generate_latest(m.registry).decode()
    assert "rrdd_cache_files 5.0" in text
    assert "not rrdd" not in text
    assert value(m, "rrdd_messages_total", kind="status") == 0
    assert "not rrdd's" in caplog.text


@pytest.mark.parametrize(
    "name", ["cache_files", "rrdd-cache", "rrdd_messages_total", "rrdd_build_info", "rrdd_"]
)
def test_bad_gauge_names(counts: Counts, name: str) -> None:
    with pytest.raises(ValueError):
        Metrics(counts, version="1", gauges={name: lambda: 1}, registry=CollectorRegistry())


def test_flush_histogram(metrics: Metrics) -> None:
    assert value(metrics, "rrdd_flush_duration_seconds_count") == 0
    for seconds in (0.0005, 0.001, 0.3, 45.0, 900.0):
        metrics.observe_flush(seconds)
    name = "rrdd_flush_duration_seconds_bucket"
    assert value(metrics, name, le="0.001") == 2  # le is "less or equal"
    assert value(metrics, name, le="0.5") == 3
    assert value(metrics, name, le="30.0") == 3
    assert value(metrics, name, le="60.0") == 4
    assert value(metrics, name, le="600.0") == 4
    assert value(metrics, name, le="+Inf") == 5
    assert value(metrics, "rrdd_flush_duration_seconds_count") == 5
    assert value(metrics, "rrdd_flush_duration_seconds_sum") == pytest.approx(945.3015)
    assert len(FLUSH_BUCKETS) == len(set(FLUSH_BUCKETS)) == len(sorted(FLUSH_BUCKETS))


def test_flush_histogram_adds_other_processes_flushes(counts: Counts) -> None:
    """--workers: the router's histogram is the sum of its workers' figures()."""
    workers = [Metrics(Counts(), version="1", registry=CollectorRegistry()) for _ in range(2)]
    workers[0].observe_flush(0.0005)
    workers[1].observe_flush(0.3)
    workers[1].observe_flush(45.0)
    router = Metrics(counts, version="1", registry=CollectorRegistry())
    router.more = lambda: [w.figures() for w in workers]
    name = "rrdd_flush_duration_seconds_bucket"
    assert value(router, name, le="0.001") == 1
    assert value(router, name, le="0.5") == 2
    assert value(router, name, le="+Inf") == 3
    assert value(router, "rrdd_flush_duration_seconds_sum") == pytest.approx(45.3005)
    workers[0].observe_flush(0.2)  # read again at each scrape
    assert value(router, "rrdd_flush_duration_seconds_count") == 4
    assert value(router, "rrdd_processes") == 3


STATUS, DATA, LA = (Event.MESSAGES, "status"), (Event.MESSAGES, "data"), (Event.UPDATES, "la")


def figures(counters: dict[Key, int], gauges: dict[str, float], flushes: int = 0) -> Figures:
    buckets = (flushes, *(0,) * len(FLUSH_BUCKETS))
    return Figures(counters, gauges, buckets, flushes * 0.001)


def test_merge_sums_counters_and_flushes_and_follows_each_gauges_rule() -> None:
    parts = [
        figures(
            {STATUS: 3, LA: 9},
            {
                "rrdd_cache_pending_values": 10,
                "rrdd_cache_files": 2,
                "rrdd_last_message_timestamp_seconds": 1_700_000_100,
                "rrdd_rrdcached_connected": 1,
                "rrdd_processes": 1,
            },
            flushes=2,
        ),
        figures(
            {STATUS: 5, DATA: 1},
            {
                "rrdd_cache_pending_values": 4,
                "rrdd_cache_files": 1,
                "rrdd_last_message_timestamp_seconds": 1_700_000_000,
                "rrdd_rrdcached_connected": 0,
                "rrdd_processes": 3,
            },
            flushes=1,
        ),
        figures({STATUS: 1}, {"rrdd_processes": 1}),  # a router: no cache
    ]
    merged = merge(parts)
    assert merged.counters == {STATUS: 9, LA: 9, DATA: 1}
    assert merged.gauges == {
        "rrdd_cache_pending_values": 14,  # sum
        "rrdd_cache_files": 3,  # sum
        "rrdd_last_message_timestamp_seconds": 1_700_000_100,  # max
        "rrdd_rrdcached_connected": 0,  # min: one process without rrdcached is 0
        "rrdd_processes": 5,  # sum
    }
    assert merged.buckets[0] == 3 and sum(merged.buckets) == 3
    assert merged.flush_seconds == pytest.approx(0.003)
    assert merge([]) == Figures.counting({})
    assert set(GAUGES) == set(merged.gauges)  # every gauge has its rule, and was tried


def test_figures_travel_as_json(counts: Counts, metrics: Metrics) -> None:
    counts.add(Event.MESSAGES, 2, "status")
    counts.add(Event.VALUES_SHED)
    metrics.gauges["rrdd_cache_files"] = lambda: 7
    metrics.observe_flush(0.02)
    own = metrics.own()
    assert own.gauges == {"rrdd_cache_files": 7, "rrdd_processes": 1}
    assert Figures.from_json(json.loads(json.dumps(own.to_json()))) == own
    later = {**own.to_json(), "gauges": {"rrdd_cache_files": 7, "rrdd_from_the_future": 1}}
    assert Figures.from_json(later).gauges == {"rrdd_cache_files": 7}
    newer = {**own.to_json(), "counters": {"VALUES_SHED": {"": 1}, "FROM_THE_FUTURE": {"": 1}}}
    assert Figures.from_json(newer).counters == {(Event.VALUES_SHED, ""): 1}
    for bad in (
        None,
        [],
        {},
        {**own.to_json(), "buckets": [1, 2]},
        {**own.to_json(), "counters": 3},
    ):
        with pytest.raises(ValueError):
            Figures.from_json(bad)


def test_siblings_are_merged_into_the_scrape(counts: Counts, metrics: Metrics) -> None:
    counts.add(Event.MESSAGES, 3, "status")
    metrics.gauges["rrdd_cache_pending_values"] = lambda: 6
    metrics.siblings = lambda: [
        figures({STATUS: 5}, {"rrdd_cache_pending_values": 1, "rrdd_processes": 1})
    ]
    assert value(metrics, "rrdd_messages_total", kind="status") == 8
    assert value(metrics, "rrdd_cache_pending_values") == 7
    assert value(metrics, "rrdd_processes") == 2
    assert metrics.figures().counters == {STATUS: 3}  # what its snapshot says


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_scrape_over_http(counts: Counts, metrics: Metrics) -> None:
    counts.add(Event.MESSAGES, 7, "status")
    counts.add(Event.UPDATES, 3, "disk")
    metrics.observe_flush(2.0)
    port = free_port()
    metrics.serve(f"127.0.0.1:{port}")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        assert reply.status == 200
        text = reply.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for s in families["rrdd_messages"].samples
    }
    assert samples[("rrdd_messages_total", (("kind", "status"),))] == 7
    assert families["rrdd_messages"].type == "counter"
    assert families["rrdd_flush_duration_seconds"].type == "histogram"
    assert families["rrdd_build_info"].samples[0].labels == {"version": "1.2.3"}
    assert {name.removesuffix("_total") for name in FAMILIES} <= set(families)
    with pytest.raises(StartError, match="already"):
        metrics.serve(f"127.0.0.1:{free_port()}")
    metrics.close()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_port_in_use(metrics: Metrics) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ListenError, match="already in use") as e:
            metrics.serve(f"127.0.0.1:{port}")
        assert e.value.in_use


def test_address_not_here(metrics: Metrics) -> None:
    with pytest.raises(ListenError, match="no such address") as e:
        metrics.serve(f"192.0.2.1:{free_port()}")  # TEST-NET-1: never a local address
    assert not e.value.in_use


def test_unknown_host(metrics: Metrics, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_host(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    with pytest.raises(StartError, match="unknown host"):
        metrics.serve("metrics.example:9128")


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:9128", ("127.0.0.1", 9128)),
        ("localhost:1", ("localhost", 1)),
        ("0.0.0.0:65535", ("0.0.0.0", 65535)),
        ("[::1]:9128", ("::1", 9128)),
        ("[::]:9128", ("::", 9128)),
    ],
)
def test_split_address(address: str, expected: tuple[str, int]) -> None:
    assert split_address(address) == expected


@pytest.mark.parametrize(
    "address",
    [
        "",
        "9128",
        ":9128",
        "localhost",
        "localhost:",
        "localhost:0",
        "localhost:65536",
        "localhost:http",
        "localhost:-1",
        "localhost:٩١٢٨",  # Arabic-Indic digits: isdigit() but not a port
        "::1:9128",
        "[::1]9128",
        "[::1]",
        "[]:9128",
    ],
)
def test_bad_addresses(address: str) -> None:
    with pytest.raises(ConfigError, match="bad address"):
        split_address(address)


def test_bad_address_from_serve(metrics: Metrics) -> None:
    with pytest.raises(ConfigError, match="bad address"):
        metrics.serve("no-port")
