from __future__ import annotations

import hashlib
from collections import Counter

from rrdd.channel import CONTROLS, ChannelParser, Control, Item, Message, Route, route

STATUS = (
    b"@@status#7/web01.example.com|1795312871.123456|192.0.2.10||web01.example.com|cpu|"
    b"1795314671|green|OrdAt|yellow|1795312800|0||0||1795312870|linux|/servers|0|\n"
    b"status web01,example,com.cpu green Sun Nov 22 up: 1 days, 2 users, 3 procs, load=0.50\n"
    b"second line\n@@\n"
)
DATA = (
    b"@@data#8/web01.example.com|1795312872.5|192.0.2.10||web01.example.com|netstat|linux|/srv\n"
    b"data web01,example,com.netstat\nlinux\n@@\n"
)


def items(*chunks: bytes, parser: ChannelParser | None = None) -> list[Item]:
    parser = parser or ChannelParser()
    out: list[Item] = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    return out


def status(seq: int, body: bytes = b"status h.t green ok", color: bytes = b"green") -> bytes:
    return b"@@status#%d/h|1795312871.0|1.2.3.4||h|t|0|%s||green|0|0||0||0|c|p|0|\n%s\n@@\n" % (
        seq,
        color,
        body,
    )


def test_status_header_fields() -> None:
    (msg,) = items(STATUS)
    assert msg == Message(
        kind="status",
        seq=7,
        timestamp=1795312871,
        sender="192.0.2.10",
        hostname="web01.example.com",
        testname="cpu",
        color="green",
        flags="OrdAt",
        classname="linux",
        pagepaths="/servers",
        body="status web01,example,com.cpu green Sun Nov 22 up: 1 days, 2 users, 3 procs, "
        "load=0.50\nsecond line",
    )


def test_data_header_fields() -> None:
    (msg,) = items(DATA)
    assert isinstance(msg, Message)
    assert (msg.kind, msg.seq, msg.timestamp, msg.hostname, msg.testname) == (
        "data",
        8,
        1795312872,
        "web01.example.com",
        "netstat",
    )
    assert (msg.classname, msg.pagepaths, msg.color) == ("linux", "/srv", "")
    assert msg.body == "data web01,example,com.netstat\nlinux"


def test_hobbit_42_header_without_key() -> None:
    old = b"@@data#3|1700000000.1|1.2.3.4||oldhost|vmstat\ndata oldhost.vmstat\nlinux\n@@\n"
    (msg,) = items(old)
    assert isinstance(msg, Message)
    assert (msg.hostname, msg.testname, msg.timestamp) == ("oldhost", "vmstat", 1700000000)


def test_any_chunking_gives_the_same_items() -> None:
    stream = STATUS + DATA + STATUS.replace(b"#7/", b"#9/")
    whole = items(stream)
    assert len(whole) == 3
    for size in (1, 2, 3, 4, 5, 7, 64):
        chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
        assert items(*chunks) == whole


def test_md5_checksum_accepts_good_and_drops_bad() -> None:
    plain = STATUS
    digest = hashlib.md5(plain).hexdigest().encode()
    good = plain.replace(b"@@status#", b"@@status:" + digest + b"#", 1)
    bad = plain.replace(b"@@status#", b"@@status:" + b"0" * 32 + b"#", 1).replace(b"#7/", b"#8/")
    stats: Counter[str] = Counter()
    got = items(good, bad, parser=ChannelParser(stats=stats))
    assert len(got) == 1 and isinstance(got[0], Message) and got[0].seq == 7
    assert stats["bad_checksum"] == 1


def test_duplicate_sequence_number_is_dropped() -> None:
    stats: Counter[str] = Counter()
    got = items(status(1), status(1), status(2), status(1), parser=ChannelParser(stats=stats))
    assert [m.seq for m in got] == [1, 2, 1]
    assert stats["duplicate"] == 1


def test_crlf_body_becomes_lf() -> None:
    (msg,) = items(status(1, b"status h.t green ok\r\n/dev/sda1 10 5 5 50% /\r"))
    assert isinstance(msg, Message)
    assert msg.body == "status h.t green ok\n/dev/sda1 10 5 5 50% /"


def test_garbage_is_skipped_and_the_next_message_kept() -> None:
    # xymond_rrd loses message 2 here; rrdd keeps it.
    stats: Counter[str] = Counter()
    got = items(b"junk\nmore junk\n" + status(2) + status(3), parser=ChannelParser(stats=stats))
    assert [m.seq for m in got] == [2, 3]
    assert stats["garbage"] == 1


def test_garbage_without_any_message_is_dropped() -> None:
    got = items(b"junk only\n@@\n" + status(4))
    assert [m.seq for m in got] == [4]


def test_purple_and_short_and_empty_status_are_ignored() -> None:
    stats: Counter[str] = Counter()
    short = b"@@status#3/h|1|2|3|h|t|0|green\nstatus h.t green\n@@\n"
    empty = b"@@status#4/h|1795312871.0|1.2.3.4||h|t|0|green||green|0|0||0||0|c|p|0|\n@@\n"
    got = items(
        status(1, color=b"purple"), short, empty, status(5), parser=ChannelParser(stats=stats)
    )
    assert [m.seq for m in got] == [5]
    assert stats["ignored_color"] == 1 and stats["ignored_short"] == 2


def test_every_accepted_colour() -> None:
    got = items(
        *(
            status(i, color=c)
            for i, c in enumerate([b"green", b"yellow", b"red", b"blue", b"clear"])
        )
    )
    assert [m.color for m in got if isinstance(m, Message)] == [
        "green",
        "yellow",
        "red",
        "blue",
        "clear",
    ]


def test_control_messages() -> None:
    stream = (
        b"@@drophost#10/*|1795313771.000042|192.0.2.1|a.example.com\n@@\n"
        b"@@renamehost#11/*|1795313771.000042|192.0.2.1|b.example.com|b-new.example.com\n@@\n"
        b"@@droptest#12/*|1795313771.1|192.0.2.1|c.example.com|cpu\n@@\n"
        b"@@renametest#13/*|1795313771.1|192.0.2.1|c.example.com|disk|disk2\n@@\n"
        b"@@logrotate#14/*|1795313771.1|xymond|\n@@\n"
        b"@@reload#15/*|1795313771.1|xymond|\n@@\n"
        b"@@idle\n@@\n"
        b"@@dropstate#16/*|1795313771.1|xymond|h\n@@\n"
        b"@@shutdown#17/*|1795313771.1|xymond|\n@@\n"
    )
    assert items(stream) == [
        Control("drophost", ("a.example.com",), 10),
        Control("renamehost", ("b.example.com", "b-new.example.com"), 11),
        Control("droptest", ("c.example.com", "cpu"), 12),
        Control("renametest", ("c.example.com", "disk", "disk2"), 13),
        Control("logrotate", (), 14),
        Control("reload", (), 15),
        Control("idle", (), None),
        Control("shutdown", (), 17),
    ]


def test_every_control_kind_is_read_with_its_arguments() -> None:
    for kind, spec in CONTROLS.items():
        args = [f"a{i}" for i in range(spec.args)]
        header = f"@@{kind}#1/*|1795313771.1|xymond|{'|'.join(args)}"
        assert items(f"{header}\n@@\n".encode()) == [Control(kind, tuple(args), 1)]
        if args:  # one argument short: refused
            short = "|".join(header.split("|")[:-1])
            assert items(f"{short}\n@@\n".encode()) == []


def test_a_message_is_routed_by_its_header_alone() -> None:
    blocks = [b[: -len(b"\n@@\n")] for b in (STATUS, DATA)]
    assert route(blocks[0]) == Route("status", (b"web01.example.com",))
    assert route(blocks[1]) == Route("data", (b"web01.example.com",))
    assert route(b"@@drophost#10/*|1795313771.0|192.0.2.1|a.example.com") == Route(
        "drophost", (b"a.example.com",)
    )
    assert route(b"@@droptest:0123#12/*|1.1|192.0.2.1|c|cpu") == Route("droptest", (b"c",))
    assert route(b"@@renametest#13/*|1.1|192.0.2.1|c|disk|disk2") == Route("renametest", (b"c",))
    assert route(b"@@renamehost#11/*|1.0|192.0.2.1|old|new") == Route(
        "renamehost", (b"old", b"new")
    )
    assert route(b"@@renamehost#11/*|1.0|192.0.2.1|old") == Route("renamehost", ())
    assert route(b"@@drophost#10/*|1.0|192.0.2.1") == Route("drophost", ())
    assert route(b"@@status#1/h|1.0|x") == Route("status", ())
    assert route(b"@@reload#15/*|1.1|xymond|") == Route("reload", ())
    assert route(b"@@idle") == Route("idle", ())
    assert route(b"@@dropstate#16/*|1.1|xymond|h") == Route("", ())


def test_oversize_message_is_dropped_and_the_next_kept() -> None:
    stats: Counter[str] = Counter()
    parser = ChannelParser(max_message=1000, stats=stats)
    huge = status(1, b"status h.t green\n" + b"x" * 5000)
    chunks = [huge[i : i + 300] for i in range(0, len(huge), 300)]
    got = items(*chunks, status(2), parser=parser)
    assert [m.seq for m in got] == [2]
    assert stats["oversize"] == 1
    # The same when the whole oversize message arrives in one read.
    got = items(status(3, b"status h.t green\n" + b"y" * 5000) + status(4), parser=parser)
    assert [m.seq for m in got] == [4]


def test_unterminated_message_at_end_of_input_is_dropped() -> None:
    stats: Counter[str] = Counter()
    parser = ChannelParser(stats=stats)
    assert items(status(1), status(2)[:-4], parser=parser) == [items(status(1))[0]]
    parser.close()
    assert stats["unterminated"] == 1


def test_undecodable_bytes_survive_as_surrogates() -> None:
    (msg,) = items(status(1, b"status h.t green caf\xe9"))
    assert isinstance(msg, Message)
    assert msg.body.encode("utf-8", "surrogateescape").endswith(b"caf\xe9")
