"""Mutated channel streams, end to end: rrdd never dies, never writes outside its RRD
directory, and keeps every good message among the bad.

Each mode (the default, --no-cache, --workers=2, --rrdcached) reads its own stream of
MESSAGES mutated messages, made by a seeded generator as rrdd reads them. A failure
names the seed and the mode: RRDD_MUTATION_SEED=N runs the same streams again, and
``python -m tests.test_mutations MODE N`` writes one out. The messages are drawn from
real client output (the golden cases, tests/data/*/*.msg) and from the kinds whose
definitions rrdd hands to librrd: trends data messages with ``[file]`` and ``DS:``
lines, devmon ``<!--DEVMON RRD:`` blocks, and a test routed to an --extra-script that
prints its message but for the first line, so that its answer is as hostile as the
message. drophost, droptest, renamehost and renametest with hostile arguments come in
among them. Bytes are flipped (to non-UTF-8 bytes, NUL, CR, control characters among
others), lines deleted, doubled, swapped, numbers replaced (huge, negative, float,
empty, not numbers), header fields and DS definitions changed, messages cut short, and
junk put before some.

After every GOOD_EVERY of them comes a good cpu message of a sentinel host, a name no
other message carries, every 5 minutes of its own time; each of their values must be
in the RRD files at the end. Two rules of the channel hold for them, as they hold in
Xymon: a good message follows a whole message (junk before a message without a newline
is read as that message's start), and its sequence number is none that a bad message
before it could carry (a repeated number is a duplicate, dropped).

The host names stay few, so that a run makes a few thousand files, not tens of
thousands: each golden message has a host of its own from a pool, mutations of the
header are mostly drawn from lists, and bytes are flipped in the header less often
than in the body.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import rrdtool

from rrdd.settings import DEFAULT_TEST2RRD
from tests.helpers import T0
from tests.test_cli import RRDD, clean_env
from tests.test_rrdcached import Daemon

SEED = int(os.environ.get("RRDD_MUTATION_SEED", "15"))
MESSAGES = 50_000  # mutated messages in each mode's stream
GOOD_EVERY = 40  # bad messages before each good one
STEP = 300  # la.rrd's step
# The good messages' first time: a step of la.rrd, and before the clock, so that rrdd
# starts their files 10 s before it and the first value makes a whole step.
START = 1_700_000_100
SENTINELS = [f"sentinel{i}.example.org" for i in range(4)]  # with --workers=2, on both
# No digits in them: a number replaced in a host name makes a new host every time.
POOL = [f"pool{c}.example.com" for c in "abcdefghijklmnopqrstuvwx"]

ABSOLUTE = "/tmp/rrdd-mutations-escaped"  # a host name that is a path of its own
HOSTILE_NAMES = [
    "",
    ".",
    "..",
    "/",
    "../..",
    "../../escaped",
    ABSOLUTE,
    "a/b",
    ".hidden",
    "..hidden",
    "~",
    "*",
    "x" * 300,
    "h\udcff",  # the byte 0xff
    "h\x00x",
    "h\rx",
    "h x",
    "rrd",
    "-rf",
]
TESTS = ["", ".", "..", "/", "../cpu", "cpu/..", "CPU", "cpu", "la", "disk", "trends", "if_load"]
TESTS += ["hostile", "ncv", "memory", "*", "x" * 300, "t\udcff"]
NUMBERS = [
    "",
    " ",
    "-1",
    "0",
    "-0",
    "99999999999999999999999",
    "-99999999999999999",
    "18446744073709551616",
    "1e308",
    "1e309",
    "-1e309",
    "0.000001",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "U",
    "abc",
    "1.2.3",
    "0x10",
    "1,5",
    "12:34",
    "\udcff",
]
HOSTILE_BYTES = b"\xff\xfe\x80\xc3\x00\r\x1b\x7f\t\x0b\x0c|/.:@\n #[]<>-"
DS_NAMES = ["", "n" * 19, "n" * 20, "n" * 64, "a b", "a-b", "a\udcffb", "a\x00b", "../x", "ds0"]
DS_TYPES = ["GAUGE", "COUNTER", "DERIVE", "ABSOLUTE", "DCOUNTER", "DDERIVE", "COMPUTE"]
DS_TYPES += ["gauge", "", "FOO", "GAUGE\udcff", "GAUGE GAUGE"]
TRENDS = {  # file -> its DS, as a site's script would send them
    "weather": ["temp:GAUGE", "wind:GAUGE"],
    "queue": ["active:GAUGE", "deferred:GAUGE"],
    "mail traffic": ["received:COUNTER", "bounced:ABSOLUTE"],
    "spam": ["rejected:DERIVE"],
}
NUMBER = re.compile(rb"-?[0-9]+(?:\.[0-9]+)?")
# The answer is the message but for its first line. Shell builtins only: a process more
# for each message would be the dearest part of the run.
SCRIPT = """#!/bin/sh
{ read -r _; while IFS= read -r line || [ -n "$line" ]; do printf '%s\\n' "$line"; done; } <"$3"
"""

# One archive, with room for the good values: a run makes thousands of files, each a
# quarter of the size of Xymon's four archives.
RRAS = f"[]\nRRA:AVERAGE:0.5:1:{2 * MESSAGES // GOOD_EVERY // len(SENTINELS)}\n"

DATA = Path(__file__).parent / "data"
# What the golden cases' .env files set, all at once.
ENV = {
    "TEST2RRD": DEFAULT_TEST2RRD + ",col=ncv,dirs=ncv,weird=ncv,coll=ncv,q=ncv,dbstats=ncv,"
    "perf=ncv,myapp=ncv,metrics=ncv,filerops=ops,filerstats=stats,net2=xymonnet",
    "NCV_col": "*:GAUGE",
    "NCV_dirs": "*:GAUGE",
    "NCV_coll": "*:GAUGE",
    "NCV_perf": "*:GAUGE",
    "NCV_metrics": "*:GAUGE",
    "NCV_myapp": "conns:GAUGE,requests:DERIVE,hits:COUNTER,skipme:NONE",
    "SPLITNCV_q": "",
    "SPLITNCV_dbstats": "*:GAUGE,commits:DERIVE,skip:NONE",
    "TRACKMAX": "perf",
    "XYMONNETSVCS": "smtp ldap",
}


def golden_messages() -> list[tuple[list[str], str]]:
    """The status and data messages of the golden cases: (header fields, body)."""
    out = []
    for path in sorted(DATA.glob("*/*.msg")):
        text = path.read_bytes().decode("utf-8", "surrogateescape")
        for block in text.split("\n@@\n"):
            if block.startswith(("@@status", "@@data")):
                header, _, body = block.partition("\n")
                out.append((header.split("|"), body))
    return out


GOLDEN = golden_messages()


def raw(text: str) -> bytes:
    """The bytes of `text`, those that are not UTF-8 (surrogates) among them."""
    return text.encode("utf-8", "surrogateescape")


def status_header(seq: int, host: str, test: str, ts: int) -> str:
    return (
        f"@@status#{seq}/{host}|{ts}.5|192.0.2.10||{host}|{test}|{ts + 1800}|green||green|"
        f"0|0||0||{ts}|linux|servers|0|"
    )


def data_header(seq: int, host: str, test: str, ts: int) -> str:
    return f"@@data#{seq}/{host}|{ts}.000001|192.0.2.40||{host}|{test}|linux|servers"


class Mutator:
    """Bad messages, each built, then mutated once to three times."""

    def __init__(self, seed: str):
        self.r = random.Random(seed)

    def message(self, seq: int, ts: int) -> bytes:
        """One bad message, framed; junk comes before a few."""
        make = self.r.choices(self.KINDS, cum_weights=self.SHARES)[0]
        header, _, body = raw(make(self, seq, ts)).partition(b"\n")
        for _ in range(self.r.choice([1, 1, 1, 2, 2, 3])):
            header, body = self.r.choice(self.MUTATIONS)(self, header, body)
        msg = header + b"\n" + body if body else header
        if self.r.random() < 0.02:
            msg = self.r.randbytes(self.r.randint(1, 30)) + self.r.choice([b"", b"\n"]) + msg
        if msg.endswith(b"\n@@"):  # the terminator would start at its "\n" and end one early
            msg += b"x"
        return msg + b"\n@@\n"

    # --- before mutation ----------------------------------------------------------------

    def golden(self, seq: int, ts: int) -> str:
        i = self.r.randrange(len(GOLDEN))
        fields, body = GOLDEN[i]
        host = POOL[i % len(POOL)]  # a host of its own: its files are the same each time
        fields = [f"{fields[0].partition('#')[0]}#{seq}/{host}", f"{ts}.{i:06}", *fields[2:]]
        if len(fields) > 4:
            fields[4] = host
        return "|".join(fields) + "\n" + body

    def trends(self, seq: int, ts: int) -> str:
        host = self.r.choice(POOL)
        lines = [data_header(seq, host, "trends", ts), f"data {host}.trends"]
        for name in self.r.sample(sorted(TRENDS), self.r.randint(1, 3)):
            lines.append(f"[{name}.rrd]")
            for ds in TRENDS[name]:
                lines.append(f"DS:{ds}:600:0:U {self.r.randint(0, 10**6)}")
        return "\n".join(lines)

    def devmon(self, seq: int, ts: int) -> str:
        host = self.r.choice(POOL)
        test = self.r.choice(["if_load", "temp"])
        lines = [status_header(seq, host, test, ts), f"status {host}.{test} green ok"]
        lines.append(f"<!--DEVMON RRD: {test} 0 0")
        if test == "if_load":
            lines.append("DS:ds0:COUNTER:600:0:U DS:ds1:COUNTER:600:0:U")
            for name in self.r.sample(["Gi0_1", "Gi0_2", "Vl10"], 2):
                lines.append(f"{name} {self.r.randint(0, 10**9)}:{self.r.randint(0, 10**9)}")
        else:
            lines.append("DS:temp:GAUGE:600:0:U")
            for name in self.r.sample(["InletTemp", "OutletTemp", "CPU"], 2):
                lines.append(f"{name} {self.r.randint(10, 90)}")
        lines.append("-->")
        return "\n".join(lines)

    def extra(self, seq: int, ts: int) -> str:
        host = self.r.choice(POOL)
        lines = [status_header(seq, host, "hostile", ts), f"status {host}.hostile green"]
        lines += ["DS:temp:GAUGE:600:-50:60", "DS:wind:GAUGE:600:0:U"]
        for name in self.r.sample(["weather.rrd", "gusts.rrd", "storm.rrd"], 2):
            lines += [name, f"{self.r.randint(-50, 60)}:{self.r.randint(0, 40)}"]
        return "\n".join(lines)

    def control(self, seq: int, ts: int) -> str:
        kind = self.r.choice(["drophost", "droptest", "renamehost", "renametest"])
        args = [self.host()]
        args += [self.host()] if kind == "renamehost" else []
        args += [self.r.choice(TESTS) for _ in range({"droptest": 1, "renametest": 2}.get(kind, 0))]
        return f"@@{kind}#{seq}/*|{ts}.0|192.0.2.1|{'|'.join(args)}"

    def host(self) -> str:
        roll = self.r.random()
        if roll < 0.4:
            return self.r.choice(POOL)
        if roll < 0.5:
            return "." + self.r.choice(POOL)
        return self.r.choice(HOSTILE_NAMES)

    # --- mutations: (header, body) -> (header, body) ------------------------------------

    def flip(self, header: bytes, body: bytes) -> tuple[bytes, bytes]:
        """Bytes replaced, most by a hostile one; in the header seldom (a new host name
        each time)."""
        if self.r.random() < 0.05 or not body:
            return self._flip(header), body
        return header, self._flip(body)

    def _flip(self, text: bytes) -> bytes:
        b = bytearray(text)
        for _ in range(self.r.randint(1, 4) if b else 0):
            new = self.r.choice(HOSTILE_BYTES) if self.r.random() < 0.8 else self.r.randrange(256)
            b[self.r.randrange(len(b))] = new
        return bytes(b)

    def insert(self, header: bytes, body: bytes) -> tuple[bytes, bytes]:
        where = self.r.randint(0, len(body))
        return header, body[:where] + self.r.randbytes(self.r.randint(1, 40)) + body[where:]

    def lines(self, header: bytes, body: bytes) -> tuple[bytes, bytes]:
        """A line deleted, duplicated, swapped with another, emptied or given a CR."""
        lines = body.split(b"\n")
        i, j = self.r.randrange(len(lines)), self.r.randrange(len(lines))
        op = self.r.randrange(5)
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[j])
        elif op == 2:
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 3:
            lines[i] += b"\r"
        else:
            lines[i] = b""
        return header, b"\n".join(lines)

    def number(self, header: bytes, body: bytes) -> tuple[bytes, bytes]:
        """Up to three numbers of the body replaced: huge, negative, float, empty, not one."""
        for _ in range(self.r.randint(1, 3)):
            found = NUMBER.search(body, self.r.randrange(len(body) + 1)) or NUMBER.search(body)
            if found is None:
                break
            new = self.r.choice(NUMBERS) if self.r.random() < 0.8 else str(self.r.getrandbits(40))
            body = body[: found.start()] + raw(new) + body[found.end() :]
        return header, body

    def header_field(self, header: bytes, body: bytes) -> tuple[bytes, bytes]:
        """The host, test or time of the header, another field, or one field less."""
        fields = header.split(b"|")
        roll = self.r.random()
        if roll < 0.3:
            host = raw(self.host())
            fields[0] = fields[0].partition(b"/")[0] + b"/" + host
            if len(fields) > 4:
                fields[4] = host
        elif roll < 0.5 and len(fields) > 5:
            fields[5] = raw(self.r.choice(TESTS))
        elif roll < 0.8 and len(fields) > 1:
            fields[1] = raw(self.r.choice(NUMBERS + [str(T0 - 10**9), "1795312871.5.5"]))
        elif roll < 0.9:
            fields[self.r.randrange(len(fields))] = raw(self.r.choice(NUMBERS + ["R", "red"]))
        elif len(fields) > 1:
            del fields[self.r.randrange(1, len(fields))]
        return b"|".join(fields), body

    def ds(self, header: bytes, body: bytes) -> tuple[bytes, bytes]:
        """A DS definition's name, type, heartbeat, minimum or maximum, or its number of
        fields; a body without one gets a number replaced instead."""
        spans = [m.span() for m in re.finditer(rb"DS:[^ \n\t]*", body)]
        if not spans:
            return self.number(header, body)
        start, end = self.r.choice(spans)
        parts = body[start:end].split(b":")
        roll = self.r.randrange(6)
        if roll == 0 and len(parts) > 1:
            parts[1] = raw(self.r.choice(DS_NAMES))
        elif roll == 1 and len(parts) > 2:
            parts[2] = raw(self.r.choice(DS_TYPES))
        elif roll == 2 and len(parts) > 3:
            parts[self.r.randrange(3, len(parts))] = raw(self.r.choice(NUMBERS))
        elif roll == 3 and len(parts) > 1:
            del parts[self.r.randrange(1, len(parts))]
        elif roll == 4:
            parts.append(self.r.choice([b"x", b"", b"600", b"U"]))
        elif len(parts) > 5:
            parts[4], parts[5] = b"100", b"-100"  # the minimum above the maximum
        return header, body[:start] + b":".join(parts) + body[end:]

    def truncate(self, header: bytes, body: bytes) -> tuple[bytes, bytes]:
        msg = header + b"\n" + body
        msg = msg[: self.r.randint(0, len(msg))]
        header, _, body = msg.partition(b"\n")
        return header, body

    # The kinds of message and their shares, as cumulative weights: few for the extra
    # script, whose answer costs a process.
    KINDS: list[Callable[[Mutator, int, int], str]] = [golden, trends, devmon, extra, control]
    SHARES = [0.5, 0.77, 0.98, 0.995, 1.0]
    # Those named twice are drawn twice as often.
    MUTATIONS: list[Callable[[Mutator, bytes, bytes], tuple[bytes, bytes]]] = [
        flip,
        flip,
        insert,
        lines,
        lines,
        number,
        number,
        header_field,
        header_field,
        ds,
        ds,
        truncate,
    ]


Good = tuple[int, int, int, int]  # a good cpu message: time, load (x100), users, procs


def cpu(seq: int, host: str, good: Good) -> bytes:
    ts, load, users, procs = good
    text = f"status {host}.cpu green up: 3 days, {users} users, {procs} procs, "
    text += f"load={load // 100}.{load % 100:02}"
    return f"{status_header(seq, host, 'cpu', ts)}\n{text}\n@@\n".encode()


def stream(seed: str, messages: int, good: dict[str, list[Good]]) -> Iterator[bytes]:
    """`messages` bad messages, with a good one after every GOOD_EVERY of them, in
    pieces; each good one is added to `good` as it is made."""
    m = Mutator(seed)
    # A file's first value has no row in it (most of its step is before the file's
    # start): these make the sentinels' files, those that count come after.
    yield b"".join(cpu(seq, host, (START - STEP, 0, 0, 0)) for seq, host in enumerate(SENTINELS))
    seq = len(SENTINELS)
    used: set[int] = set()  # the sequence numbers bad messages may carry
    made = 0
    piece = bytearray()
    while made < messages:
        seq += 1
        msg = m.message(seq, T0 + made // 10)
        if b"sentinel" in msg.lower() or b"@@shutdown" in msg:
            continue  # it would touch a good host's files, or end the stream early
        used.update(int(d[:18] or b"0") for d in re.findall(rb"#([0-9]*)", msg))
        piece += msg
        made += 1
        if made % GOOD_EVERY == 0:
            host = SENTINELS[made // GOOD_EVERY % len(SENTINELS)]
            n = len(good[host])
            seq += 1
            while seq in used:
                seq += 1
            good[host].append((START + STEP * n, n % 997, n % 13, 50 + n % 89))
            piece += cpu(seq, host, good[host][-1])
        if len(piece) > 1 << 16 or made == messages:
            yield bytes(piece)
            piece.clear()


# What rrdd logs only for a bug of its own: one that it caught (in a parser, in a worker
# process) but a bug all the same.
BUGS = (
    "Traceback",
    "parser error",  # a parser raised something else than ParseError
    "the process creating it died",
    "has died",  # a --workers worker
    "has not released a renamed host in time",  # the channel stood still for a minute
    "it is tried again",  # held for a disk that refuses: this one has room and rights
)
MODES = {
    "default": [],
    "no-cache": ["--no-cache"],
    "workers": ["--workers=2"],
    "rrdcached": ["--rrdcached"],
}


def walk(top: Path) -> set[Path]:
    """Every path below `top`, symbolic links not followed."""
    out = set()
    for where, dirs, files in os.walk(top):
        out.update(Path(where, name) for name in dirs + files)
    return out


def feed(argv: list[str], pieces: Iterator[bytes], log: Path, **kw: Any) -> int:
    """The exit status of `argv` run on the stream `pieces` as they are made, standard
    error to `log`."""
    with log.open("wb") as stderr:
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stderr=stderr, **kw)
        try:
            assert p.stdin is not None
            with contextlib.suppress(BrokenPipeError), p.stdin:  # it died: its status says so
                for piece in pieces:
                    p.stdin.write(piece)
            return p.wait(timeout=300)
        finally:
            if p.poll() is None:  # it hangs: TimeoutExpired says so
                p.kill()
                p.wait()


def rows(path: Path, start: int, end: int) -> dict[int, float | None]:
    """The value of each step from `start` to `end` of the file's first DS."""
    (first, _, step), _, values = rrdtool.fetch(
        str(path), "AVERAGE", "-s", str(start - STEP), "-e", str(end)
    )
    return {first + step * (k + 1): row[0] for k, row in enumerate(values)}


@pytest.mark.parametrize("mode", MODES)
def test_mutated_messages_never_stop_rrdd_nor_lose_a_good_one(tmp_path: Path, mode: str) -> None:
    log = tmp_path / "rrdd.log"
    about = (
        f"seed {SEED}, mode {mode} (RRDD_MUTATION_SEED={SEED} runs it again; "
        f"python -m tests.test_mutations {mode} {SEED} writes its stream)"
    )
    print(about)
    sandbox = tmp_path / "sandbox"
    rrddir, xymontmp = sandbox / "rrd", sandbox / "tmp"
    rrddir.mkdir(parents=True)
    xymontmp.mkdir()
    script = sandbox / "hostile.sh"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    rras = sandbox / "rrddefinitions.cfg"
    rras.write_text(RRAS)
    cached = Daemon(sandbox, rrddir)
    options = MODES[mode]
    if mode == "rrdcached":
        cached.start()
        options = [f"--rrdcached={cached.address}"]
    log.touch()
    before = walk(sandbox)
    around = {top: set(top.iterdir()) for top in (tmp_path, tmp_path.parent)}

    started = time.monotonic()
    good: dict[str, list[Good]] = {host: [] for host in SENTINELS}
    argv = [RRDD, f"--rrddir={rrddir}", f"--rrddefinitions={rras}"]
    argv += [f"--extra-script={script}", "--extra-tests=hostile"]
    env = clean_env(**ENV, XYMONTMP=str(xymontmp))
    pieces = stream(f"{SEED}-{mode}", MESSAGES, good)
    try:
        status = feed([*argv, *options], pieces, log, env=env, cwd=sandbox)  # cwd: for a core
    finally:
        cached.stop()  # it writes what it holds into the files
    print(f"{mode}: {MESSAGES} messages made and read in {time.monotonic() - started:.1f} s")

    text = log.read_text(errors="replace")
    assert status == 0, f"{about}: exit status {status}; log ends:\n{text[-3000:]}"
    bugs = [line for line in text.splitlines() if any(words in line for words in BUGS)]
    assert not bugs, f"{about}: in the log {log}:\n" + "\n".join(bugs[:20])

    allowed = (rrddir, xymontmp, sandbox / "journal")
    for path in walk(sandbox) - before:
        assert any(path.is_relative_to(a) for a in allowed), f"{about}: {path} written"
    for path in walk(rrddir):
        assert not path.is_symlink(), f"{about}: symbolic link {path}"
        assert Path(os.path.realpath(path)).is_relative_to(rrddir), f"{about}: {path}"
    for top, names in around.items():
        assert set(top.iterdir()) == names, f"{about}: written in {top}"
    assert not os.path.lexists(ABSOLUTE), f"{about}: {ABSOLUTE} written"

    for host, values in good.items():
        for name, column in (("la.rrd", 1), ("users.rrd", 2), ("procs.rrd", 3)):
            got = rows(rrddir / host / name, START, values[-1][0])
            lost = {v[0]: v[column] for v in values if got.get(v[0]) != v[column]}
            assert not lost, f"{about}: {host}/{name} lacks {len(lost)} values: {lost}"


if __name__ == "__main__":  # python -m tests.test_mutations MODE [SEED] > stream
    import sys

    mode, seed = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else SEED
    for piece in stream(f"{seed}-{mode}", MESSAGES, {host: [] for host in SENTINELS}):
        sys.stdout.buffer.write(piece)
