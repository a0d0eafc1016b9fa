from __future__ import annotations

import dataclasses
import hashlib
import logging

import pytest

from rrdd.channel import CONTROLS, ChannelParser, Control, Item, Message, Route, route
from rrdd.events import Counts, Event

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
    counts = Counts()
    got = items(good, bad, parser=ChannelParser(counts=counts))
    assert len(got) == 1 and isinstance(got[0], Message) and got[0].seq == 7
    assert counts[Event.BAD_CHECKSUM] == 1


def test_duplicate_sequence_number_is_dropped() -> None:
    counts = Counts()
    got = items(status(1), status(1), status(2), status(1), parser=ChannelParser(counts=counts))
    assert [m.seq for m in got] == [1, 2, 1]
    assert counts[Event.DUPLICATE] == 1


def test_crlf_body_becomes_lf() -> None:
    (msg,) = items(status(1, b"status h.t green ok\r\n/dev/sda1 10 5 5 50% /\r"))
    assert isinstance(msg, Message)
    assert msg.body == "status h.t green ok\n/dev/sda1 10 5 5 50% /"


def test_garbage_is_skipped_and_the_next_message_kept() -> None:
    # xymond_rrd loses message 2 here; rrdd keeps it.
    counts = Counts()
    got = items(b"junk\nmore junk\n" + status(2) + status(3), parser=ChannelParser(counts=counts))
    assert [m.seq for m in got] == [2, 3]
    assert counts[Event.GARBAGE] == 1


def test_garbage_without_any_message_is_dropped() -> None:
    got = items(b"junk only\n@@\n" + status(4))
    assert [m.seq for m in got] == [4]


def test_purple_and_short_and_empty_status_are_ignored() -> None:
    counts = Counts()
    short = b"@@status#3/h|1|2|3|h|t|0|green\nstatus h.t green\n@@\n"
    empty = b"@@status#4/h|1795312871.0|1.2.3.4||h|t|0|green||green|0|0||0||0|c|p|0|\n@@\n"
    got = items(
        status(1, color=b"purple"), short, empty, status(5), parser=ChannelParser(counts=counts)
    )
    assert [m.seq for m in got] == [5]
    assert counts[Event.IGNORED_COLOR] == 1 and counts[Event.IGNORED_SHORT] == 2


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
    counts = Counts()
    parser = ChannelParser(max_message=1000, counts=counts)
    huge = status(1, b"status h.t green\n" + b"x" * 5000)
    chunks = [huge[i : i + 300] for i in range(0, len(huge), 300)]
    got = items(*chunks, status(2), parser=parser)
    assert [m.seq for m in got] == [2]
    assert counts[Event.OVERSIZE] == 1
    # The same when the whole oversize message arrives in one read.
    got = items(status(3, b"status h.t green\n" + b"y" * 5000) + status(4), parser=parser)
    assert [m.seq for m in got] == [4]


def test_unterminated_message_at_end_of_input_is_dropped() -> None:
    counts = Counts()
    parser = ChannelParser(counts=counts)
    assert items(status(1), status(2)[:-4], parser=parser) == [items(status(1))[0]]
    parser.close()
    assert counts[Event.UNTERMINATED] == 1


def test_undecodable_bytes_survive_as_surrogates() -> None:
    (msg,) = items(status(1, b"status h.t green caf\xe9"))
    assert isinstance(msg, Message)
    assert msg.body.encode("utf-8", "surrogateescape").endswith(b"caf\xe9")


def header(fields: int, kind: bytes = b"status") -> bytes:
    """A header of `fields` fields, each one numbered."""
    parts = [b"@@%s#5/h" % kind, b"1795312871.5", b"sender", b"", b"h", b"t", b"f6", b"green"]
    parts += [b"f%d" % i for i in range(8, 30)]
    return b"|".join(parts[:fields])


def test_the_shortest_headers_read() -> None:
    # status: 14 fields, up to DISABLETIME; data: 6, up to TEST. One fewer is ignored.
    counts = Counts()
    parser = ChannelParser(counts=counts)
    ok_status, ok_data = header(14) + b"\nstatus h.t green\n@@\n", header(6, b"data") + b"\nx\n@@\n"
    (s,) = items(ok_status, parser=parser)
    (d,) = items(ok_data.replace(b"#5/", b"#6/"), parser=parser)
    assert isinstance(s, Message) and (s.sender, s.color, s.flags, s.classname) == (
        "sender",
        "green",
        "f8",
        "",
    )
    assert isinstance(d, Message) and (d.classname, d.pagepaths) == ("", "")
    assert isinstance(d, Message) and (d.kind, d.sender, d.hostname, d.testname) == (
        "data",
        "sender",
        "h",
        "t",
    )
    short = [header(13) + b"\nstatus h.t green\n@@\n", header(5, b"data") + b"\nx\n@@\n"]
    empty = header(6, b"data") + b"\n@@\n"
    assert (
        items(
            *(m.replace(b"#5/", b"#%d/" % (i + 7)) for i, m in enumerate([*short, empty])),
            parser=parser,
        )
        == []
    )
    assert counts[Event.IGNORED_SHORT] == 3


def test_a_bad_checksum_above_the_good_one_is_dropped_too() -> None:
    bad = STATUS.replace(b"@@status#", b"@@status:" + b"f" * 32 + b"#", 1)
    assert items(bad) == []


def test_a_duplicate_of_a_large_sequence_number_is_dropped() -> None:
    assert [m.seq for m in items(status(100000), status(100000), status(100001))] == [
        100000,
        100001,
    ]


def test_sequence_numbers_keep_their_first_eighteen_digits() -> None:
    # Longer ones are cut, as xymond_rrd's reader does, so a sequence never overflows.
    msg = status(1).replace(b"#1/h|", b"#1234567890123456789/h|")
    numeric_host = status(7).replace(b"#7/h|", b"#7/12345|")
    assert [m.seq for m in items(msg, numeric_host)] == [123456789012345678, 7]


def test_post_times_are_read_as_atoi_reads_them() -> None:
    def posted(ts: bytes) -> bytes:
        return status(1).replace(b"|1795312871.0|", b"|" + ts + b"|")

    def stamp(ts: bytes) -> int:
        (msg,) = items(posted(ts))
        assert isinstance(msg, Message)
        return msg.timestamp

    assert stamp(b"") == 0  # the first message of a stream too
    assert stamp(b"1795312871x.5") == 1795312871
    assert stamp(b"9" * 19 + b".0") == 2**63 - 1  # strtoll's clamp
    assert stamp(b"9" * 20) == 2**63 - 1


def test_bare_control_messages_act() -> None:
    # xymond_rrd acts on any message that starts with "@@shutdown", fields or none.
    assert items(b"@@logrotate\n@@\n@@reload#3|1795312871\n@@\n@@shutdown\n@@\n") == [
        Control("logrotate", (), None),
        Control("reload", (), 3),
        Control("shutdown", (), None),
    ]


def test_items_cannot_be_changed_by_their_users() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Control("drophost", ("a",), 1).args = ("b",)  # type: ignore[misc]


def test_what_is_skipped_is_logged_with_its_size(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="rrdd.channel")
    got = items(b"junk\n" + status(1) + b"\n" + status(2) + b"only junk\n@@\n" + status(3))
    assert [m.seq for m in got] == [1, 2, 3]
    assert [r.getMessage() for r in caplog.records] == [
        "Bad data in channel, skipping 5 bytes",
        "Bad data in channel, skipping 1 bytes",
        "Bad data in channel, skipping 9 bytes",
    ]


def test_an_empty_message_at_the_end_is_no_unterminated_one() -> None:
    counts = Counts()
    parser = ChannelParser(counts=counts)
    assert [m.seq for m in items(status(1), b"\n@@\n", parser=parser)] == [1]
    parser.close()
    assert counts.snapshot() == {}


def test_oversize_and_unterminated_messages_are_logged_by_their_first_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="rrdd.channel")
    long_header = b"@@status#1/" + b"h" * 300 + b"|x\nbody\n"
    parser = ChannelParser(max_message=1000)
    items(status(1, b"status h.t green\n" + b"x" * 2000), parser=parser)  # in one read
    items(long_header + b"y" * 2000, b"\n@@\n", parser=parser)  # seen before its end
    items(status(2)[:-4], parser=parser)
    parser.close()
    first_line = {seq: status(seq).split(b"\n")[0] for seq in (1, 2)}
    assert [r.getMessage() for r in caplog.records] == [
        f"Oversize message (over 1000 bytes) dropped: {first_line[1]!r}",
        f"Oversize message (over 1000 bytes) dropped: {long_header[:200]!r}",
        f"Unterminated message at end of input dropped: {first_line[2]!r}",
    ]
    items(long_header, parser=parser)
    parser.close()
    assert caplog.records[-1].getMessage() == (
        f"Unterminated message at end of input dropped: {long_header[:200]!r}"
    )


def test_an_oversize_message_is_counted_once_and_not_held_while_it_arrives() -> None:
    counts = Counts()
    parser = ChannelParser(max_message=1000, counts=counts)
    start = status(1, b"status h.t green\n" + b"x" * 990)[:-4]
    assert items(start, parser=parser) == [] and counts[Event.OVERSIZE] == 1
    for _ in range(50):
        assert items(b"x" * 997 + b"\n@@", parser=parser) == []  # a terminator cut in two
    assert counts[Event.OVERSIZE] == 1 and len(parser._buf) < 1000
    # Its end, and the next message in the same read.
    assert [m.seq for m in items(b"\n" + status(2), parser=parser)] == [2]
    assert counts[Event.OVERSIZE] == 1


def test_the_default_limit_is_xymond_rrds_buffer() -> None:
    # 512 KiB plus 4095 bytes of slack: a message that long is read, one byte more is not.
    def sized(seq: int, size: int) -> bytes:
        body = status(seq)[:-4]
        return body + b"x" * (size - len(body)) + b"\n@@\n"

    limit = 512 * 1024 + 4095
    for chunk in (1 << 16, 1 << 20):  # the reader's reads, and all at once
        stream = sized(1, limit) + sized(2, limit + 1) + status(3)
        got = items(*(stream[i : i + chunk] for i in range(0, len(stream), chunk)))
        assert [m.seq for m in got] == [1, 3]
    # Held whole while its terminator is still to come.
    assert [m.seq for m in items(sized(4, limit)[:-4], b"\n@@\n")] == [4]


def test_a_header_just_long_enough_is_read_and_routed() -> None:
    # The host is the fifth field: a header that ends with it still names it.
    assert route(b"@@data#1/h|1.0|sender||web1") == Route("data", (b"web1",))
    # More fields than a control message needs (a trailing "|") change nothing.
    assert items(b"@@drophost#10/*|1795313771.0|192.0.2.1|a.example.com|\n@@\n") == [
        Control("drophost", ("a.example.com",), 10)
    ]


def test_a_route_is_read_from_the_first_line_only() -> None:
    # A short header does not borrow fields from the body's "|".
    assert route(b"@@status#1/h|1.0|x\nstatus h.t green a|b|c|d") == Route("status", ())
    assert route(b"@@drophost#10/*|1.0|192.0.2.1\nx|y") == Route("drophost", ())
