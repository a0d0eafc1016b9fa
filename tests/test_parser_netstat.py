from __future__ import annotations

import pytest

from rrdd.channel import Message
from rrdd.context import Context
from rrdd.errors import ParseError
from rrdd.parsers._common import ostype
from rrdd.parsers.netstat import OSF_UDP, SCHEMA, TCP, _PatternSet, check_table, parse


def run(body: str) -> dict[str, str] | None:
    msg = Message("data", 1, 1795312871, "192.0.2.1", "h", "netstat", "", "", "", "", body)
    updates = list(parse(msg, Context()))
    if not updates:
        return None
    (update,) = updates
    assert update.rrd == "netstat.rrd" and update.schema == SCHEMA
    return dict(zip(SCHEMA.names, update.values, strict=True))


@pytest.mark.parametrize(
    ("line", "os"),
    [
        ("linux", "linux"),
        ("Linux 6.1.0-13-amd64", "linux"),
        ("redhatES", "rhel3"),
        ("redhatAS", "linux"),
        ("debian3", "linux22"),
        ("SunOS", "solaris"),
        ("HP-UX", "hpux"),
        ("osf1", "osf"),
        ("IRIX64", "irix"),
        ("macosx", "darwin"),
        ("unixware", "sco_sv"),
        ("snmpnetstat", "snmp"),
        ("gnu/kfreebsd", "gnu/kfreebsd"),
        ("linux.x86", "linux"),
        ("", "unknown"),
        ("plan9", "unknown"),
        (" linux", "unknown"),
    ],
)
def test_ostype_is_xymons_get_ostype(line: str, os: str) -> None:
    assert ostype(line + "\nrest") == os


def test_unknown_os_is_an_error_naming_it() -> None:
    with pytest.raises(ParseError, match="unknown OS 'plan9'"):
        run("data h.netstat\nplan9\ntcp:\n\t12 connection requests")


def test_a_report_without_lines_is_an_error() -> None:
    with pytest.raises(ParseError, match="too few lines"):
        run("data h.netstat\nlinux")
    with pytest.raises(ParseError, match="too few lines"):
        run("data h.netstat")


def test_other_os_writes_nothing_without_error() -> None:
    assert run("data h.netstat\nhmdc\ntcpActiveOpens=12") is None


def test_a_message_without_status_or_data_line_starts_with_the_os() -> None:
    assert run("solaris\n  tcpActiveOpens = 12")["tcpActiveOpens"] == "12"  # type: ignore[index]


BSD_TCP = "tcp:\n\t12 connection requests\n\t34 connection accepts\n"


def test_sections_are_caseless_and_only_tcp_and_udp_headers_switch() -> None:
    body = (
        "data h.netstat\nfreebsd\n"
        "UDP:\n\t5 datagrams received\n"
        "ip:\n\t6 datagrams output\n"  # still the udp section for xymond
        "Tcp:\n\t7 connection requests\n\t8 datagrams output\n"  # not read in tcp
        "icmp:\n\t9 connection accepts\n"  # still tcp
    )
    got = run(body)
    assert got is not None
    assert (got["udpInDatagrams"], got["udpOutDatagrams"]) == ("5", "6")
    assert (got["tcpActiveOpens"], got["tcpPassiveOpens"]) == ("7", "9")


def test_first_match_wins_and_reading_stops_at_the_eleventh_match() -> None:
    tcp = "tcp:\n" + "\t1 connection requests\n" * 10 + "\t2 connection accepts\n"
    udp = "udp:\n\t3 with bad checksum\n"
    got = run("data h.netstat\nopenbsd\n" + tcp + udp)
    assert got is not None
    assert got["tcpActiveOpens"] == "1"
    assert got["tcpPassiveOpens"] == "2"  # the 11th match
    assert got["udpInErrors"] == "0"  # never read: xymond stopped before it


def test_udp_errors_are_summed_as_xymond_prints_an_unsigned_long_with_ld() -> None:
    udp = "udp:\n\t9223372036854775807 with incomplete header\n\t2 with bad checksum\n"
    got = run("data h.netstat\nnetbsd\n" + udp)
    assert got is not None
    assert got["udpInErrors"] == "-9223372036854775807"
    assert got["tcpAttemptFails"] == got["tcpEstabResets"] == got["tcpCurrEstab"] == "U"


def test_the_pattern_needs_the_whole_line() -> None:
    body = "data h.netstat\nosf\n" + BSD_TCP.replace("accepts", "accepts so far")
    got = run(body)
    assert got is not None
    assert (got["tcpActiveOpens"], got["tcpPassiveOpens"]) == ("12", "U")


def test_aix_falls_back_to_name_equals_value_only_when_the_patterns_find_nothing() -> None:
    pairs = "tcpActiveOpens = 99\ntcpPassiveOpens = 98\n"
    both = run("data h.netstat\naix\n" + BSD_TCP + pairs)
    assert both is not None and both["tcpActiveOpens"] == "12"
    only_pairs = run("data h.netstat\naix\n" + pairs)
    assert only_pairs is not None and only_pairs["tcpActiveOpens"] == "99"
    assert only_pairs["udpInErrors"] == "U"  # the pattern method's "0" is not kept


def test_bsd_falls_back_to_value_before_marker() -> None:
    got = run("data h.netstat\ndarwin\n  17 connections established (including accepts)")
    assert got is not None and got["tcpCurrEstab"] == "17"
    assert run("data h.netstat\ndarwin\nnothing to see") is None


def test_linux_reads_from_the_tcp_section_on() -> None:
    body = "data h.netstat\nlinux\nIp:\n    5 packets received\nTcp:\n    3 segments received\n"
    got = run(body + "Udp:\n    4 packets received\n")
    assert got is not None
    assert (got["udpInDatagrams"], got["tcpInInorderPackets"]) == ("4", "3")
    assert got["tcpOutDataPackets"] == "U"


def test_a_table_naming_a_ds_that_netstat_rrd_lacks_is_refused() -> None:
    check_table({"tcpActiveOpens": "active opens"})
    with pytest.raises(ValueError, match="tcpActiveOpen'"):
        check_table({"tcpActiveOpen": "active opens"})
    with pytest.raises(ValueError, match="udpInError'"):
        _PatternSet.of(TCP, {**OSF_UDP, "udpInError": "bad checksums"})


def test_a_pattern_table_must_fill_what_xymonds_lists_fill() -> None:
    no_accepts = {ds: text for ds, text in TCP.items() if ds != "tcpPassiveOpens"}
    with pytest.raises(ValueError, match="instead of"):
        _PatternSet.of(no_accepts, OSF_UDP)
    with pytest.raises(ValueError, match="instead of"):
        _PatternSet.of(TCP, {**OSF_UDP, "tcpCurrEstab": "connections established"})


def test_a_byte_count_pattern_must_sit_on_a_ds_with_a_byte_count() -> None:
    swapped = {**TCP, "tcpActiveOpens": TCP["tcpRetransPackets"]}
    swapped["tcpRetransPackets"] = "connection requests"
    with pytest.raises(ValueError, match="byte count"):
        _PatternSet.of(swapped, OSF_UDP)
