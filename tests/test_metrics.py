"""rrdd.metrics: stats keys as Prometheus series, gauges, the flush histogram, /metrics."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections import Counter
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from rrdd.errors import ConfigError, StartError
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
def stats() -> Counter[str]:
    return Counter()


@pytest.fixture
def metrics(stats: Counter[str]) -> Iterator[Metrics]:
    m = Metrics(stats, version="1.2.3", registry=CollectorRegistry())
    yield m
    m.close()


def value(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_counters_follow_the_counter(stats: Counter[str], metrics: Metrics) -> None:
    assert value(metrics, "rrdd_messages_total", kind="status") == 0
    stats["messages_status"] += 3
    stats["messages_data"] += 1
    stats["controls_drophost"] += 2
    stats["updates_la"] += 5
    stats["updates_extra"] += 1
    stats["parse_errors_disk"] += 1
    stats["rrd_creates"] += 4
    stats["extra_runs"] += 6
    stats["extra_timeouts"] += 1
    stats["processor_lines"] += 9
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
    stats["messages_status"] += 1
    assert value(metrics, "rrdd_messages_total", kind="status") == 4


def test_writer_keys_are_not_handlers(stats: Counter[str], metrics: Metrics) -> None:
    stats.update(
        updates_rejected=2,
        updates_refused=3,
        rrd_open_errors=1,
        ds_mismatches=4,
        disk_errors=6,
        updates_dropped_old=5,
        values_written=50,
        rrd_writes=7,
    )
    assert value(metrics, "rrdd_write_errors_total", reason="rejected") == 2
    assert value(metrics, "rrdd_write_errors_total", reason="refused") == 3
    assert value(metrics, "rrdd_write_errors_total", reason="open") == 1
    assert value(metrics, "rrdd_write_errors_total", reason="ds_mismatch") == 4
    assert value(metrics, "rrdd_write_errors_total", reason="disk") == 6
    assert value(metrics, "rrdd_updates_dropped_total", reason="old_timestamp") == 5
    assert value(metrics, "rrdd_values_written_total") == 50
    assert value(metrics, "rrdd_rrd_writes_total") == 7
    assert value(metrics, "rrdd_updates_total", handler="rejected") is None
    assert value(metrics, "rrdd_updates_total", handler="dropped_old") is None


def test_channel_problems_and_ignored_messages(stats: Counter[str], metrics: Metrics) -> None:
    for key in ("garbage", "duplicate", "bad_checksum", "oversize", "unterminated"):
        stats[key] += 1
        assert value(metrics, "rrdd_channel_errors_total", reason=key) == 1
    stats.update(ignored_short=2, ignored_unknown=3, ignored_color=4)
    stats.update(unhandled_tests=5, reverse_tests=6)
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
    for reason in ("open", "rejected", "refused", "ds_mismatch", "disk", "creator_crash"):
        assert value(metrics, "rrdd_write_errors_total", reason=reason) == 0
    assert value(metrics, "rrdd_rrd_creates_total") == 0
    assert value(metrics, "rrdd_processor_lines_lost_total") == 0


def test_unknown_keys_are_events(stats: Counter[str], metrics: Metrics) -> None:
    stats.update({"values_shed": 3, "something new": 1, "messages_": 2, "updates_": 1})
    assert value(metrics, "rrdd_events_total", event="values_shed") == 3
    assert value(metrics, "rrdd_events_total", event="something new") == 1
    assert value(metrics, "rrdd_events_total", event="messages_") == 2
    assert value(metrics, "rrdd_events_total", event="updates_") == 1
    stats["creates_deferred"] += 2
    stats["rrdcached_reconnects"] += 1
    assert value(metrics, "rrdd_rrd_creates_deferred_total") == 2
    assert value(metrics, "rrdd_rrdcached_reconnects_total") == 1


def test_no_created_series_and_no_host_label(stats: Counter[str]) -> None:
    stats.update(messages_status=1, updates_la=1)
    m = Metrics(stats, version="1", gauges={"rrdd_cache_files": lambda: 1})
    m.observe_flush(0.5)
    families = list(text_string_to_metric_families(generate_latest(m.registry).decode()))
    names = {s.name for f in families for s in f.samples}
    assert not [n for n in names if n.endswith("_created")]
    assert not [s for f in families for s in f.samples if "host" in s.labels]
    # The default registry adds prometheus_client's own collectors.
    assert "python_info" in names


def test_build_info(metrics: Metrics) -> None:
    assert value(metrics, "rrdd_build_info", version="1.2.3") == 1


def test_gauges_are_read_at_scrape_time(stats: Counter[str]) -> None:
    pending = [10.0]
    gauges = {
        "rrdd_cache_pending_values": lambda: pending[0],
        "rrdd_cache_files": lambda: 3,
        "rrdd_last_message_timestamp_seconds": lambda: 1_700_000_000.5,
    }
    m = Metrics(stats, version="1", gauges=gauges, registry=CollectorRegistry())
    assert value(m, "rrdd_cache_pending_values") == 10
    pending[0] = 12
    assert value(m, "rrdd_cache_pending_values") == 12
    assert value(m, "rrdd_cache_files") == 3
    assert value(m, "rrdd_last_message_timestamp_seconds") == 1_700_000_000.5
    assert value(m, "rrdd_rrdcached_connected") is None  # only when given


def test_failing_gauge_is_left_out(stats: Counter[str], caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> float:
        raise RuntimeError("dictionary changed size during iteration")

    gauges = {"rrdd_rrdcached_connected": broken, "rrdd_cache_files": lambda: 2}
    m = Metrics(stats, version="1", gauges=gauges, registry=CollectorRegistry())
    generate_latest(m.registry)
    generate_latest(m.registry)
    assert value(m, "rrdd_rrdcached_connected") is None
    assert value(m, "rrdd_cache_files") == 2
    assert len([r for r in caplog.records if "rrdd_rrdcached_connected" in r.message]) == 1


def test_gauges_added_later(stats: Counter[str], caplog: pytest.LogCaptureFixture) -> None:
    m = Metrics(stats, version="1", registry=CollectorRegistry())
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
def test_bad_gauge_names(stats: Counter[str], name: str) -> None:
    with pytest.raises(ValueError):
        Metrics(stats, version="1", gauges={name: lambda: 1}, registry=CollectorRegistry())


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


def test_flush_histogram_adds_other_processes_flushes(stats: Counter[str]) -> None:
    """--workers: the router's histogram is the sum of its workers' figures()."""
    workers = [Metrics(Counter(), version="1", registry=CollectorRegistry()) for _ in range(2)]
    workers[0].observe_flush(0.0005)
    workers[1].observe_flush(0.3)
    workers[1].observe_flush(45.0)
    router = Metrics(stats, version="1", registry=CollectorRegistry())
    router.more = lambda: [w.figures() for w in workers]
    name = "rrdd_flush_duration_seconds_bucket"
    assert value(router, name, le="0.001") == 1
    assert value(router, name, le="0.5") == 2
    assert value(router, name, le="+Inf") == 3
    assert value(router, "rrdd_flush_duration_seconds_sum") == pytest.approx(45.3005)
    workers[0].observe_flush(0.2)  # read again at each scrape
    assert value(router, "rrdd_flush_duration_seconds_count") == 4
    assert value(router, "rrdd_processes") == 3


def figures(counters: dict[str, int], gauges: dict[str, float], flushes: int = 0) -> Figures:
    buckets = (flushes, *(0,) * len(FLUSH_BUCKETS))
    return Figures(counters, gauges, buckets, flushes * 0.001)


def test_merge_sums_counters_and_flushes_and_follows_each_gauges_rule() -> None:
    parts = [
        figures(
            {"messages_status": 3, "updates_la": 9},
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
            {"messages_status": 5, "messages_data": 1},
            {
                "rrdd_cache_pending_values": 4,
                "rrdd_cache_files": 1,
                "rrdd_last_message_timestamp_seconds": 1_700_000_000,
                "rrdd_rrdcached_connected": 0,
                "rrdd_processes": 3,
            },
            flushes=1,
        ),
        figures({"messages_status": 1}, {"rrdd_processes": 1}),  # a router: no cache
    ]
    merged = merge(parts)
    assert merged.counters == {"messages_status": 9, "updates_la": 9, "messages_data": 1}
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


def test_figures_travel_as_json(stats: Counter[str], metrics: Metrics) -> None:
    stats.update(messages_status=2, values_shed=1)
    metrics.gauges["rrdd_cache_files"] = lambda: 7
    metrics.observe_flush(0.02)
    own = metrics.own()
    assert own.gauges == {"rrdd_cache_files": 7, "rrdd_processes": 1}
    assert Figures.from_json(json.loads(json.dumps(own.to_json()))) == own
    later = {**own.to_json(), "gauges": {"rrdd_cache_files": 7, "rrdd_from_the_future": 1}}
    assert Figures.from_json(later).gauges == {"rrdd_cache_files": 7}
    for bad in (
        None,
        [],
        {},
        {**own.to_json(), "buckets": [1, 2]},
        {**own.to_json(), "counters": 3},
    ):
        with pytest.raises(ValueError):
            Figures.from_json(bad)


def test_siblings_are_merged_into_the_scrape(stats: Counter[str], metrics: Metrics) -> None:
    stats["messages_status"] = 3
    metrics.gauges["rrdd_cache_pending_values"] = lambda: 6
    metrics.siblings = lambda: [
        figures({"messages_status": 5}, {"rrdd_cache_pending_values": 1, "rrdd_processes": 1})
    ]
    assert value(metrics, "rrdd_messages_total", kind="status") == 8
    assert value(metrics, "rrdd_cache_pending_values") == 7
    assert value(metrics, "rrdd_processes") == 2
    assert metrics.figures().counters == {"messages_status": 3}  # what its snapshot says


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_scrape_over_http(stats: Counter[str], metrics: Metrics) -> None:
    stats.update(messages_status=7, updates_disk=3, odd_key=1)
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
    assert {s.labels["event"] for s in families["rrdd_events"].samples} == {"odd_key"}
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
