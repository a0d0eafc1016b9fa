"""tcp: response times of xymonnet's network tests (ping, http, dns, ntp, TCP services).

Handles: tcp (the ping column ``conn``, ``http``, ``dns``, ``dig``, ``ntp`` and every
protocols.cfg service: ``ssh``, ``smtp``, ``ldap``, ``imap``, ``ftp`` ...)

Sample body (xymonnet, a TCP service)::

    status+30 web01,example,com.ssh green <!-- [flags:OrdastLe] --> Tue Jan  7 10:00:00 2025 ssh ok

    Service ssh on web01.example.com is OK (up)


    SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5

    Seconds: 0.004512345

What is read depends on the test (column) name, compared case-sensitively:

* ``http``: a line starting ``&green``, ``&yellow`` or ``&red`` names a URL (from the first
  ``http`` in the line up to a blank); the next line holding ``Seconds: <sec>`` is its time.
* the ping column (PINGCOLUMN, default ``conn``): the round trip after ``time=`` (ping) or
  ``alive (`` (xymonping, ``fping -e``), in ``ms``, ``usec`` or else seconds; 0 when the
  status has neither (an unreachable host).
* ``ntp``: the clock offset, the token after ``offset `` (ntpdate, xymonnet's SNTP probe),
  and the root distance after ``+/- `` (the probe only), in seconds; then as any test.
* every other test, ``ntp`` too: the first line starting ``Seconds:`` (seconds).

Writes:
    tcp.<test>.rrd       sec (GAUGE, min 0): seconds, "%f" ("%.6f" for the ping column)
    tcp.http.<url>.rrd   sec (GAUGE, min 0): seconds, "%.2f"; <url> without a leading
                         "http://", "/" -> ",", e.g. tcp.http.www.example.com,.rrd and
                         tcp.http.https:,,www.example.com,login.rrd; a name of 205 or more
                         bytes keeps 205 and ends in "_<md5 of the rest>.rrd"
    ntp.rrd              offset (GAUGE, no limits), rootdist (GAUGE, min 0): milliseconds,
                         "%.6f"; rootdist U without a "+/-"
"""

from __future__ import annotations

import hashlib
import math
import re
from functools import lru_cache

from rrdd.channel import Message
from rrdd.cnum import NUMBER, atof, float32, float_token, strtof
from rrdd.context import Context
from rrdd.parsers import register
from rrdd.schema import Schema, Update, commas, rrdname

SCHEMA = Schema.of("DS:sec:GAUGE:600:0:U")
NTP_SCHEMA = Schema.of("DS:offset:GAUGE:600:U:U", "DS:rootdist:GAUGE:600:0:U")

URL_COLOURS = ("green", "yellow", "red")  # after "&"; an "&clear" URL was not tested: no time
NAME_LONG = 205  # setupfn3: NAME_MAX (255) - 50
RRDFN_MAX = 4094  # xymond formats names into a PATH_MAX buffer, one byte held back
ROOTDIST_MAX = 23  # xymond prints the root distance into a 24-byte buffer

PING_DIGITS = re.compile(r"[0-9. ]*")
NTP_TOKEN = re.compile(r"[ \r\n\t]*([^ \r\n\t]*)")  # strtok(" \r\n\t")


@register("tcp", files=("tcp.{test}.rrd", "tcp.{test}.*.rrd", "{test}.rrd"))
def parse(msg: Message, ctx: Context) -> list[Update]:
    # A list, not a generator: nine in ten messages of a fleet are network tests, most
    # with one update, and nothing here raises halfway (a generator would keep the
    # updates made before an error).
    test, body = msg.testname, msg.body
    if test == "http":
        return _http(body)
    if test == ctx.pingcolumn:
        return [Update(_tcpfile(test), SCHEMA, (_fmt(_ping(body), ".6f"),))]
    updates = []
    if test == "ntp":
        update = _ntp(body)
        if update is not None:
            updates.append(update)
    pos = body.find("\nSeconds:")
    seconds = _seconds(body, pos + 9) if pos >= 0 else None
    if seconds is not None:
        updates.append(Update(_tcpfile(test), SCHEMA, (_fmt(seconds, ".6f"),)))
    return updates


def _http(body: str) -> list[Update]:
    updates = []
    url = None
    # Every line after the first that starts with "&" starts a chunk, so str.find does the
    # per-line work: a URL line is a chunk's first line, its time is in a later line.
    for chunk in body.split("\n&")[1:]:
        start = 0  # where the lines that may hold a time begin
        if chunk.startswith(URL_COLOURS):
            line = chunk.partition("\n")[0]
            # A colour line without "http" keeps the URL that is still waiting.
            at = line.find("http")
            if at >= 0:
                url = line[at:].partition(" ")[0]
            start = len(line) + 1
        while url is not None:
            at = chunk.find("Seconds:", start)  # the first one of its line
            if at < 0:
                break
            end = chunk.find("\n", at)
            end = len(chunk) if end < 0 else end
            seconds = _seconds(chunk, at + 8, end)
            if seconds is not None:
                updates.append(Update(_urlfile(url), SCHEMA, (_fmt(seconds, ".2f"),)))
                url = None
            start = end + 1
    return updates


def _ping(body: str) -> float:
    """Seconds from ping's ``time=0.2 ms`` or xymonping's ``alive (0.43 ms)``, else 0."""
    pos = body.find("time=")
    if pos >= 0:
        start = pos + 5
    else:
        pos = body.find("alive")
        if pos < 0:
            return 0.0
        start = pos + 7  # past "alive (": where xymonping and fping put the number
    seconds = float32(atof(body, start))
    unit = PING_DIGITS.match(body, start)
    tmod = body[unit.end() : unit.end() + 4] if unit else ""
    if tmod.startswith("ms"):
        return float32(seconds / 1000.0)
    if tmod == "usec":
        return float32(seconds / 1000000.0)
    return seconds


def _ntp(body: str) -> Update | None:
    """ntp.rrd from ``offset <sec>`` and ``+/- <sec>`` (HEAD's SNTP probe and ntpdate)."""
    pos = body.find("offset ")
    if pos < 0:
        return None
    found = NTP_TOKEN.match(body, pos + 7)
    token = found.group(1) if found else ""
    m = NUMBER.match(token)
    # Only a whole number (ntpdate may add a comma) counts: "unavailable" or "12junk" is
    # no sample.
    if not token or m is None or token[m.end() :] not in ("", ","):
        return None
    offset = float_token(m.group(1))
    if not math.isfinite(offset):
        return None
    rootdist = "U"
    pos = body.find("+/- ")
    if pos >= 0:
        m = NUMBER.match(body, pos + 4)
        distance = float_token(m.group(1)) * 1000.0 if m else math.nan
        if math.isfinite(distance) and distance >= 0.0:
            rootdist = f"{distance:.6f}"[:ROOTDIST_MAX]
    return Update("ntp.rrd", NTP_SCHEMA, (_fmt(offset * 1000.0, ".6f"), rootdist))


def _seconds(text: str, pos: int, end: int | None = None) -> float | None:
    """What ``sscanf("Seconds: %f")`` reads after the "Seconds:" ending at `pos` (in the
    text up to `end`)."""
    m = NUMBER.match(text, pos) if end is None else NUMBER.match(text, pos, end)
    return strtof(m.group(1)) if m else None


def _fmt(value: float, spec: str) -> str:
    """printf's "%<spec>"; xymond would print "inf"/"nan", rrdd stores no reading."""
    return format(value, spec) if math.isfinite(value) else "U"


@lru_cache(maxsize=256)  # a fleet has a few dozen test names; each message needs its file
def _tcpfile(test: str) -> str:
    return rrdname(f"tcp.{commas(test)}.rrd")


@lru_cache(maxsize=4096)  # a host tests the same URLs every few minutes
def _urlfile(url: str) -> str:
    """setupfn3's name for a URL: long names end in the MD5 of their tail."""
    name = url.removeprefix("http://")
    fn = rrdname(f"tcp.http.{commas(name)}.rrd")
    if len(fn) < NAME_LONG and fn.isascii():
        return fn  # short in bytes too: nothing to cut
    raw = fn.encode("utf-8", "surrogateescape")
    raw = raw[:RRDFN_MAX]
    if len(raw) >= NAME_LONG:
        digest = hashlib.md5(raw[NAME_LONG:]).hexdigest()
        raw = raw[:NAME_LONG] + f"_{digest}.rrd".encode()
    return raw.decode("utf-8", "surrogateescape")
