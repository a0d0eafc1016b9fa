"""Property tests: no input makes rrdd raise, and nothing is written outside rrddir."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rrdd.channel import ChannelParser, Control, Message
from rrdd.context import Context
from rrdd.daemon import Daemon
from rrdd.errors import ParseError
from rrdd.events import Counts
from rrdd.parsers import load_builtins
from rrdd.schema import Update
from rrdd.settings import load_settings
from rrdd.writer.rrdwriter import RrdWriter
from rrdd.xymoncfg import RraDefinitions
from tests.test_shards import router

# The machine may be busy; slow generation is not a failure of rrdd.
relaxed = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

HOSTS = ["web01", "..", ".", "a/b", "../../etc", "x\x00y", "h\udcff", "ok-host"]
TESTS = ["cpu", "disk", "memory", "inode", "CPU", "trends", "conn", "http", "ncv", "nosuch"]
BODIES = [
    "up: 3 days, 2 users, 80 procs, load=1.25\nSystem clock is -4 seconds off",
    "Filesystem 1024-blocks Used Avail Capacity Mounted on\n/dev/a 10 5 5 50% /../../etc\n"
    "/dev/b 10 5 5 50% /",
    "&green Physical 1M 2M 37%\n&green Swap 0M 2M 3%\n&green Actual 1 2 9%",
    "[../../escape.rrd]\nDS:x:GAUGE:600:U:U 5\n[ok.rrd]\nDS:y:GAUGE:600:U:U 1",
    "C 100 50 50 50% /FIXED/C\nbb-xsnmp.pl Processor 30%",
]


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    seq = draw(st.integers(0, 999999))
    host = draw(st.sampled_from(HOSTS))
    test = draw(st.sampled_from(TESTS))
    ts = draw(st.integers(1795312000, 1795320000))
    body = draw(st.sampled_from(BODIES) | st.text(max_size=200))
    if draw(st.booleans()):
        header = (
            f"@@status#{seq}/{host}|{ts}.1|1.2.3.4||{host}|{test}|0|green||green|0|0||0||0|c|p|0|"
        )
        text = f"{header}\nstatus {host}.{test} green {body}"
    elif draw(st.booleans()):
        text = f"@@data#{seq}/{host}|{ts}.1|1.2.3.4||{host}|{test}|c|p\ndata {host}.{test}\n{body}"
    else:
        kind = draw(st.sampled_from(["drophost", "renamehost", "droptest", "renametest"]))
        args = "|".join(draw(st.lists(st.sampled_from(HOSTS + TESTS), min_size=1, max_size=3)))
        text = f"@@{kind}#{seq}/*|{ts}.1|1.2.3.4|{args}"
    return text.encode("utf-8", "surrogateescape") + b"\n@@\n"


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    data = bytearray(b"".join(draw(st.lists(messages(), max_size=8))))
    for _ in range(draw(st.integers(0, 4))):  # mutations: flip, insert, delete
        where = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "insert", "delete"]))
        if op == "insert":
            data[where:where] = draw(st.binary(max_size=20))
        elif data and where < len(data):
            if op == "flip":
                data[where] ^= draw(st.integers(1, 255))
            else:
                del data[where]
    return bytes(data)


@relaxed
@given(st.binary(max_size=2000), st.lists(st.integers(1, 50), max_size=20))
def test_channel_parser_never_raises(data: bytes, cuts: list[int]) -> None:
    parser = ChannelParser(max_message=500)
    pos = 0
    for n in [*cuts, len(data)]:
        for item in parser.feed(data[pos : pos + n]):
            assert isinstance(item, Message | Control)
        pos += n
    parser.close()


@relaxed
@given(streams(), st.integers(1, 64))
def test_chunking_never_changes_what_is_read(stream: bytes, size: int) -> None:
    whole = list(ChannelParser().feed(stream))
    parser = ChannelParser()
    chunked = [i for k in range(0, len(stream), size) for i in parser.feed(stream[k : k + size])]
    assert chunked == whole


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_daemon_never_raises_and_stays_inside_rrddir(stream: bytes) -> None:
    with tempfile.TemporaryDirectory() as top:
        rrddir = Path(top, "a", "rrd")
        rrddir.mkdir(parents=True)
        settings_ = load_settings({"rrddir": str(rrddir)}, {"TEST2RRD": "cpu=la,disk,memory"})
        counts = Counts()
        writer = RrdWriter(rrddir, RraDefinitions.load(None), counts, clock=lambda: 1795312000)
        daemon = Daemon(settings_, writer, counts)
        for item in daemon.channel.feed(stream):
            daemon.handle(item)
        daemon.shutdown()
        for dirpath, dirnames, filenames in os.walk(top):
            for name in dirnames + filenames:
                path = os.path.realpath(os.path.join(dirpath, name))
                inside = path == str(rrddir) or path.startswith(str(rrddir) + os.sep)
                assert inside or path in (os.path.join(top, "a"), str(rrddir)), path


@relaxed
@given(st.sampled_from(sorted(load_builtins())), st.text(max_size=400), st.sampled_from(TESTS))
def test_every_parser_yields_updates_or_parse_error(hid: str, text: str, test: str) -> None:
    handler = load_builtins()[hid]
    body = f"status h.{test} green {text}"
    msg = Message("status", 1, 1795312871, "1.2.3.4", "h", test, "green", "", "", "", body)
    try:
        updates = list(handler.parse(msg, Context()))
    except ParseError:
        return
    for u in updates:
        assert isinstance(u, Update)
        assert all(isinstance(v, str) for v in u.values)
        assert len(u.values) == len(u.schema.defs)
        assert isinstance(u.rrd, str)  # the writer refuses unsafe names (test above)


@relaxed
@given(streams(), st.integers(1, 4))
@example(b"@@status\n#0/h|1795312000.1|1.2.3.4||h|cpu|0|green\nstatus h.cpu green\n@@\n", 1)
def test_the_router_never_raises_and_names_a_worker(stream: bytes, workers: int) -> None:
    r = router(workers)
    for block in r.channel.blocks(stream):
        assert set(r.targets(block)) <= set(range(workers))


@relaxed
@given(st.lists(messages(), max_size=12), st.integers(2, 4))
def test_the_workers_read_what_one_process_reads(parts: list[bytes], workers: int) -> None:
    """Every message reaches one worker, which reads a host's messages in stream order.
    (Each message gets its own sequence number, as xymond numbers a channel's messages.)
    A renamehost can move a host to another worker: that the new one writes only after
    the old one has released it is tested end to end in test_shards."""
    stream = b"".join(re.sub(rb"#\d*", b"#%d" % (n + 1), p, count=1) for n, p in enumerate(parts))
    r = router(workers)
    shares: list[list[bytes | bytearray]] = [[] for _ in range(workers)]
    for block in r.channel.blocks(stream):
        for number in r.targets(block):
            shares[number].append(block)
        r.release = None  # what _hand_over does, with no workers to wait for
    whole = [item for item in ChannelParser().feed(stream) if isinstance(item, Message)]
    read = []
    for share in shares:
        framed = b"".join(bytes(b) + b"\n@@\n" for b in share)
        mine = [item for item in ChannelParser().feed(framed) if isinstance(item, Message)]
        assert mine == [m for m in whole if m in mine]  # in stream order
        read += mine
    assert sorted(read) == sorted(whole)
