"""The second judge: every golden message through the real xymond_rrd and the real rrdd.

The golden files (test_golden.py, and test_parser_snmpmib.py's MIB cases) were written
from rrdd's own output. Here each of those cases runs through Xymon's xymond_rrd
(Debian's `xymon` package, 4.3.30) and through the `rrdd` command, both under the same
frozen clock (libfaketime) and the same Xymon set-up (XYMON_ENV below; in XYMONHOME/etc
the shipped rrddefinitions.cfg, protocols.cfg's services and the MIB cases'
snmpmibs.cfg), and the RRD files they leave are compared: names, DS and RRA
definitions, last update, the values of the last update and every row since the files
began. Each case also runs as CYCLES cycles, its messages repeated at later post times,
so that COUNTER and DERIVE rates, and what is kept from one message to the next, show.

Every difference must be explained by an entry of KNOWN, which points at the
COMPATIBILITY entry of rrdd(8) that promises it; any other difference fails the case,
and so does an entry that explains nothing any more.

xymond_rrd runs with --no-cache: with its cache, a value librrd refuses loses the values
cached behind it, so what it stores would depend on the other cases in its stream (rrdd
stores what --no-cache stores; rrdd(8), COMPATIBILITY). It is given one message at a
time (see run_xymond_rrd), and restarted after a crash.

Speed: rrdd takes half a second to start, so the cases are not run one process each.
Those that share an environment (.env file, day of their post times) go into one stream,
each case and variant under host names of its own (a prefix to the header's host field)
and with fresh sequence numbers; the streams run in parallel.
"""

from __future__ import annotations

import contextlib
import fnmatch
import math
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import pytest
import rrdtool

from tests.test_golden import CASES, DATA, read_env
from tests.test_registry import man_section

XYMOND_RRD = "/usr/lib/xymon/server/bin/xymond_rrd"
FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
RRDD = str(Path(sys.executable).with_name("rrdd"))
ETC = (
    *(DATA / "xymond_rrd/etc").iterdir(),  # rrddefinitions.cfg, protocols.cfg, analysis.cfg
    DATA / "snmpmib/snmpmibs.cfg",  # the MIBs of test_parser_snmpmib.py's cases
)
# The golden cases, and those of snmpmib's MIBs, which need a snmpmibs.cfg
ALL_CASES = [*CASES, *sorted((DATA / "snmpmib").glob("*.msgs"))]
CYCLES = 3
VARIANTS = (("1 cycle", 1), (f"{CYCLES} cycles", CYCLES))
TERMINATOR = b"\n@@\n"

# xymonserver.cfg as Xymon ships it, $PINGCOLUMN expanded as xymonlaunch does. (Debian's
# 4.3.30 file lacks "ntp=tcp" and "temp=devmon"; rrdd's built-in default has them.)
XYMON_ENV = {
    "PINGCOLUMN": "conn",
    "TEST2RRD": (
        "cpu=la,disk,inode,qtree,memory,conn=tcp,http=tcp,dns=tcp,dig=tcp,time=ntpstat,"
        "ntp=tcp,vmstat,iostat,netstat,temperature,apache,bind,sendmail,mailq,nmailq=mailq,"
        "socks,bea,iishealth,citrix,bbgen,bbtest,bbproxy,hobbitd,files,procs=processes,ports,"
        "clock,lines,deltalines,ops,stats,cifs,JVM,JMS,HitCache,Session,JDBCConn,ExecQueue,"
        "JTA,TblSpace,RollBack,MemReq,InvObj,snapmirr,snaplist,snapshot,if_load=devmon,"
        "temp=devmon,paging,mdc,mdchitpct,cics,dsa,getvis,maxuser,nparts,xymongen,xymonnet,"
        "xymonproxy,xymond"
    ),
}

# What can differ in a case: a file only one of them wrote, a crash of xymond_rrd (which
# hides the files of that host), or a part of a file both wrote.
ASPECTS = (
    *("only xymond_rrd", "only rrdd", "xymond_rrd crashes"),
    *("ds", "rra", "step", "last_update", "lastupdate", "rows"),
)


@dataclass(frozen=True)
class Known:
    """A difference rrdd makes on purpose.

    `where` holds "<handler>/<case>:<file glob>" items ("<handler>/<case>" alone: any
    file), `what` the aspects that differ there. `man` is a phrase of the COMPATIBILITY
    entry of rrdd(8) that promises the difference; `upstream` says where xymond_rrd 4.3.30
    behaves otherwise than current Xymon (its source repository), which rrdd follows.
    """

    where: tuple[str, ...]
    what: tuple[str, ...]
    why: str
    man: str
    upstream: str = ""

    def places(self) -> Iterator[tuple[str, str]]:
        """(case, file glob) of each item of `where`."""
        for item in self.where:
            case, _, glob = item.partition(":")
            yield case, glob or "*"

    def explains(self, d: Difference, place: tuple[str, str] | None = None) -> bool:
        """Whether `d` is this difference, in any of its places or in `place`."""
        places = [place] if place else self.places()
        return d.what in self.what and any(
            d.case == case and fnmatch.fnmatchcase(d.file, glob) for case, glob in places
        )


VALUES = ("last_update", "lastupdate", "rows")  # xymond_rrd's update failed, or stored another

KNOWN: tuple[Known, ...] = (
    Known(
        ("la/linux-load-padding:*", "la/linux-crlf:clock.rrd"),
        ("lastupdate", "rows", "only rrdd"),
        'xymond_rrd reads "load=1.5" as 105, and after a load with more than two decimals '
        "(a CR counts) it cuts the message, losing the clock line",
        'The cpu load "load=1.5" is stored as 150',
    ),
    Known(
        ("disk/linux-crlf",),
        ("only xymond_rrd", "only rrdd"),
        "xymond_rrd keeps the CR of a CR LF line end in the mount point: disk,\\r.rrd",
        "CR LF line ends in message bodies are read as LF",
    ),
    Known(
        ("counts/malformed-lines:processes.*", "trends/trailing-blanks:weather.rrd"),
        VALUES,
        "xymond_rrd passes blanks around a value, and an empty value, to librrd, which "
        "refuses the update",
        "Blanks around the values of the counter and trends handlers are removed",
    ),
    Known(
        ("apache/blank-values:apache.rrd",),
        VALUES,
        "the same for apache",
        "apache: blanks around a value are removed",
    ),
    Known(
        ("trends/ds-before-file",),
        ("only xymond_rrd", "ds", *VALUES),
        "xymond_rrd writes DS lines before the first [file] into the file its last update "
        "named, another case's or variant's",
        "trends: DS lines before the first",
    ),
    Known(
        ("ncv/name-collision:coll.rrd",),
        ("only rrdd",),
        "my_value and myvalue both give DS myvalue: librrd refuses xymond_rrd's file",
        "Two lines whose names give the same DS",
    ),
    Known(
        ("ncv/trackmax:perf.rrd",),
        ("rra",),
        "TRACKMAX adds MAX RRAs; xymond_rrd 4.3 ignores it",
        "TRACKMAX works again",
    ),
    Known(
        ("bea/hobbit42-bea:bea.*", "bea/xymonnet-beastat:bea.*"),
        ("only rrdd",),
        "Xymon 4.3 has no handler for bea data; rrdd keeps Hobbit 4.2's",
        "rrdd keeps Hobbit 4.2's, where",
    ),
    Known(
        ("devmon/multi-block-quirks:noDS.*",),
        ("only xymond_rrd",),
        "xymond_rrd writes the rows of a block without a DS line with the previous block's DS",
        "devmon: rows of a block without its own DS line are skipped",
    ),
    Known(
        ("ifmib/short-devices:ifmib.eth?.rrd",),
        ("only rrdd",),
        "xymond_rrd carries the values of a device with fewer than 24 counters into the "
        "next device, whose count is then wrong too: neither is written",
        "ifmib: each device is written from its own values",
    ),
    Known(
        ("iishealth/odd-lines:iishealth.*",),
        ("only rrdd",),
        "xymond_rrd's loop stops at a keyword without a value",
        "iishealth: a keyword without a value is skipped",
    ),
    Known(
        ("netstat/no-digits:netstat.rrd",),
        VALUES,
        "xymond_rrd sends an empty field for one without digits; librrd refuses the update",
        "netstat: a field without digits is stored as U",
    ),
    Known(
        ("netapp/ops:ops.rrd", "netapp/test2rrd:filerops.rrd"),
        ("lastupdate", "rows"),
        "xymond_rrd stores HTTP in iSCSIops, FCP in HTTPops and iSCSI in FCPops",
        "NetApp ops: each count goes to its own DS",
    ),
    Known(
        ("vmstat/freebsd-14:vmstat.rrd",),
        ("lastupdate", "rows"),
        "xymond_rrd wraps avm and fre beyond a C int; negative, they are lost",
        "vmstat: numbers beyond a C int are stored whole",
    ),
    Known(
        ("mainframe/malformed", "mainframe_tables/zvse-getvis:getvis.F9.rrd"),
        ("xymond_rrd crashes", "lastupdate", "rows"),
        'where a number is missing ("Page Rate=n/a", a getvis row of "-nan") xymond_rrd '
        "stores what its variable held; a z/VM paging report without MIGRATE-, or a "
        "maxuser report without RSVTSTRT, crashes it",
        "where a number is missing xymond_rrd stores whatever its variable held",
    ),
    Known(
        (
            "mainframe_tables/zos-cics:*.Status.rrd",
            "mainframe_tables/zvse-cics:*.Status.rrd",
            "mainframe_tables/zvse-getvis:getvis.Statmessage.rrd",
        ),
        ("only xymond_rrd",),
        'xymond_rrd reads "Status message received from" as a table row',
        "take only lines that are table rows",
    ),
    Known(
        ("ifstat/linux-name-quirks",),
        ("xymond_rrd crashes",),
        "an eth0_1 name makes xymond_rrd write to a missing sscanf argument",
        "names like eth0_1 are used whole",
    ),
    Known(
        ("memory/zvse-malformed",),
        ("xymond_rrd crashes", "lastupdate", "rows"),
        "a z/VSE utilisation of 1e999% becomes -2147483648 in xymond_rrd; one it cannot "
        "find crashes it",
        "memory: a z/OS memory-map area or a z/VSE utilisation that cannot be read",
    ),
    Known(
        ("temperature/no-tab",),
        ("xymond_rrd crashes",),
        "a temperature line without a tab crashes xymond_rrd",
        "temperature: a line without a tab is skipped",
    ),
    Known(
        ("netapp_xtstats/quirks",),
        ("xymond_rrd crashes",),
        'a malformed xtstats line (a name alone, ";;;", "[volume") crashes xymond_rrd',
        'an xtstats line of only ";"',
    ),
    # Where rrdd keeps what current Xymon does and 4.3.30 did otherwise.
    Known(
        (
            "disk/aix-disk:disk,proc.rrd",
            "disk/freebsd-inode:inode,mnt,pub.rrd",
            "disk/linux-dfPk:disk,mnt,nfs.rrd",
            "disk/linux-inode:inode,mnt,nfs.rrd",
        ),
        ("only xymond_rrd",),
        'a df row of "-" for size and used (an unreachable mount, AIX\'s /proc) has no reading',
        'disk rows with "\\-" for size and used are skipped',
        "4.3.30 stores such rows; current Xymon skips them",
    ),
    Known(
        ("ntpstat/offset-forms:ntpstat.rrd",),
        ("rows",),
        '"sys_offset=-3.25" is an offset',
        'ntpstat reads "offset=" after any character',
        '4.3.30 needs a blank or "," before "offset="; current Xymon does not',
    ),
    Known(
        ("net/ntp-ntpdate:ntp.rrd", "net/ntp-sntp-probe:ntp.rrd"),
        ("only rrdd",),
        "xymonnet's ntp test gives ntp.rrd",
        "xymonnet's ntp test gives ntp.rrd",
        "4.3.30 stores nothing from it; current Xymon writes ntp.rrd",
    ),
    Known(
        (
            "vmstat/freebsd-14:vmstat.rrd",
            "vmstat/freebsd-4:vmstat.rrd",
            "vmstat/freebsd-one-disk:vmstat.rrd",
        ),
        ("last_update", "rows"),
        "FreeBSD's vmstat layout is the 19-column one, also for an existing file",
        "a FreeBSD vmstat report is always read with the 19-column layout",
        "4.3.30 takes Hobbit's 18-column layout once the file exists, and every update "
        "after the first fails; current Xymon keeps the 19-column one",
    ),
)


@dataclass(frozen=True)
class Difference:
    case: str
    variant: str  # of VARIANTS
    host: str
    file: str
    what: str  # one of ASPECTS
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.variant}: {self.host}/{self.file!r}: {self.what}: {self.detail}"


# --- the streams ------------------------------------------------------------------------


def case_id(msg_file: Path) -> str:
    return f"{msg_file.parent.name}/{msg_file.stem}"


def messages(msg_file: Path) -> list[bytes]:
    """A case's messages, each with its terminator."""
    return [m + TERMINATOR for m in msg_file.read_bytes().split(TERMINATOR)[:-1]]


def post_time(message: bytes) -> int:
    return int(message.split(b"|", 2)[1].split(b".")[0])


def relabel(message: bytes, seq: int, prefix: bytes, shift: int) -> bytes:
    """The message with sequence number `seq`, `prefix` before its host name and its post
    time `shift` seconds later; the body is left as it is."""
    header, nl, rest = message.partition(b"\n")
    fields = header.split(b"|")
    host = prefix + fields[4]
    fields[0] = re.sub(rb"#[0-9]*(/.*)?$", lambda _: b"#%d/%s" % (seq, host), fields[0])
    seconds, dot, fraction = fields[1].partition(b".")
    fields[1] = b"%d%s%s" % (int(seconds) + shift, dot, fraction)
    fields[4] = host
    return b"|".join(fields) + nl + rest


@dataclass(frozen=True)
class Run:
    """Cases that share an environment, as one stream."""

    env: dict[str, str]  # XYMONHOME and the cases' .env
    messages: list[bytes]  # sequence numbers 1, 2, ...
    origin: list[str]  # the host directory of each message
    hosts: dict[str, tuple[str, str, str]]  # host directory -> case, variant, host
    start: int  # the frozen clock: before every post time, so files take every value


def plan(home: Path) -> list[Run]:
    """The cases, grouped by their .env file and the day of their post times; XYMONHOME
    is `home`."""
    groups: dict[tuple[object, ...], list[Path]] = {}
    for msg_file in ALL_CASES:
        env = tuple(sorted(read_env(msg_file.with_suffix(".env")).items()))
        day = min(map(post_time, messages(msg_file))) // 86400
        groups.setdefault((env, day), []).append(msg_file)
    return [
        stream({"XYMONHOME": str(home), **dict(env)}, cases)
        for (env, _), cases in sorted(groups.items())
    ]


def stream(env: dict[str, str], cases: list[Path]) -> Run:
    """Each case once and as CYCLES cycles. A cycle lasts as long as the case's messages
    span, rounded up to 300 s, plus 300 s."""
    start = min(post_time(m) for f in cases for m in messages(f)) - 60
    run = Run(env, [], [], {}, start)
    for n, msg_file in enumerate(cases):
        msgs = messages(msg_file)
        times = [post_time(m) for m in msgs]
        period = ((max(times) - min(times)) // 300 + 2) * 300
        for v, (variant, cycles) in enumerate(VARIANTS):
            prefix = f"c{n}v{v}."
            for cycle in range(cycles):
                for message in msgs:
                    seq = len(run.messages) + 1
                    run.messages.append(relabel(message, seq, prefix.encode(), cycle * period))
                    host = message.split(b"|")[4].decode("utf-8", "surrogateescape")
                    run.origin.append(prefix + host)
                    run.hosts[prefix + host] = (case_id(msg_file), variant, host)
    return run


# --- running both -------------------------------------------------------------------------


def worker_env(work: Path, run: Run) -> dict[str, str]:
    tmp, hosts = work / "tmp", work / "hosts.cfg"
    tmp.mkdir(parents=True)
    hosts.write_text("")
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "TZ": "UTC",
        "XYMONTMP": str(tmp),
        "HOSTSCFG": str(hosts),
        "XYMSRV": "127.0.0.1",  # xymond_rrd asks xymond for hosts.cfg, then reads HOSTSCFG
        **XYMON_ENV,
        **run.env,
        "LD_PRELOAD": FAKETIME,
        "FAKETIME": f"{datetime.fromtimestamp(run.start, UTC):%Y-%m-%d %H:%M:%S}",  # stopped
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "FAKETIME_DONT_RESET": "1",
    }


def run_rrdd(run: Run, work: Path) -> Path:
    rrddir = work / "rrd"
    rrddir.mkdir(parents=True)
    p = subprocess.run(
        [RRDD, f"--rrddir={rrddir}"],
        input=b"".join(run.messages),
        capture_output=True,
        env=worker_env(work, run),
        cwd=work,
        timeout=120,
    )
    assert p.returncode == 0, f"rrdd exit {p.returncode}: {p.stderr.decode()[-2000:]}"
    return rrddir


def run_xymond_rrd(run: Run, work: Path) -> tuple[Path, list[int]]:
    """xymond_rrd on the run's messages; its RRD directory, and the messages it crashed on.

    It gets a message only when its debug output asks for it, so that its buffer never
    holds two: its ncv handler reads past the end of its message into the next one in
    the buffer (rrdd(8), COMPATIBILITY), and writes into it, which made ncv cases depend on
    their neighbours and lost the stream. After a crash it starts again with the next
    message; with --no-cache it had written all it would have.
    """
    rrddir = work / "rrd"
    rrddir.mkdir(parents=True)
    env = worker_env(work, run)
    argv = [XYMOND_RRD, "--no-cache", "--debug", f"--rrddir={rrddir}"]
    crashed: list[int] = []
    seq = 0
    with (work / "stderr").open("wb") as err:
        while seq < len(run.messages):
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
                cwd=work,  # where a crash leaves its core file
            )
            assert proc.stdin is not None and proc.stdout is not None
            alive = True
            while alive and seq < len(run.messages):
                seq += 1
                try:
                    proc.stdin.write(run.messages[seq - 1])
                    proc.stdin.flush()
                except BrokenPipeError:
                    alive = False
                alive = alive and wait_for(proc.stdout, b"Want msg %d," % (seq + 1))
            if not alive:
                crashed.append(seq)
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
            rc = proc.wait(timeout=60)
            proc.stdout.close()
            stderr = (work / "stderr").read_bytes()[-2000:]
            assert rc < 0 if not alive else rc == 0, f"xymond_rrd exit {rc}: {stderr!r}"
    return rrddir, crashed


def wait_for(out: IO[bytes], marker: bytes, seconds: float = 30) -> bool:
    """Read `out` until `marker` comes (True) or the output ends (False)."""
    deadline = time.monotonic() + seconds
    seen = b""
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0 and select.select([out], [], [], left)[0], f"no {marker!r} in time"
        chunk = os.read(out.fileno(), 65536)
        if not chunk:
            return False
        seen = seen[-len(marker) :] + chunk
    return True


# --- comparing the files ------------------------------------------------------------------


@dataclass(frozen=True)
class RrdFile:
    ds: tuple[tuple[object, ...], ...]  # name, type, heartbeat, min, max
    rra: tuple[tuple[object, ...], ...]  # cf, rows, pdp_per_row, xff
    step: int
    last_update: int
    lastupdate: tuple[tuple[str, str], ...]  # each DS's last value, as librrd was given it
    rows: dict[int, tuple[float | None, ...]]  # time -> the AVERAGE row at the step


def read_rrd(path: Path, since: int) -> RrdFile:
    info = rrdtool.info(str(path))
    names = sorted(
        (k[3:-7] for k in info if k.startswith("ds[") and k.endswith("].index")),
        key=lambda n: info[f"ds[{n}].index"],
    )
    ds = tuple(
        (n, *(info[f"ds[{n}].{k}"] for k in ("type", "minimal_heartbeat", "min", "max")))
        for n in names
    )
    rra: list[tuple[object, ...]] = []
    while f"rra[{len(rra)}].cf" in info:
        i = len(rra)
        rra.append(tuple(info[f"rra[{i}].{k}"] for k in ("cf", "rows", "pdp_per_row", "xff")))
    step, last = info["step"], info["last_update"]
    begin = str(min(since, last - step))
    (first, _, res), _, rows = rrdtool.fetch(
        str(path), "AVERAGE", "-r", str(step), "-s", begin, "-e", str(last)
    )
    lastupdate = tuple((n, info[f"ds[{n}].last_ds"]) for n in names)
    by_time = {first + i * res: row for i, row in enumerate(rows)}
    return RrdFile(ds, tuple(rra), step, last, lastupdate, by_time)


def read_tree(rrddir: Path, since: int) -> dict[tuple[str, str], RrdFile]:
    return {
        (host.name, f.name): read_rrd(f, since)
        for host in sorted(rrddir.iterdir())
        for f in sorted(host.iterdir())
        if f.suffix == ".rrd"
    }


def same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9) or (math.isnan(a) and math.isnan(b))


def compare(x: RrdFile, r: RrdFile) -> Iterator[tuple[str, str]]:
    """(aspect, detail) for each way rrdd's file `r` differs from xymond_rrd's `x`."""
    for what in ("ds", "rra", "step", "last_update", "lastupdate"):
        if getattr(x, what) != getattr(r, what):
            yield what, f"xymond_rrd {getattr(x, what)}, rrdd {getattr(r, what)}"
    bad = [
        t
        for t in sorted(x.rows.keys() | r.rows.keys())
        if len(x.rows.get(t, ())) != len(r.rows.get(t, ()))
        or not all(map(same, x.rows.get(t, ()), r.rows.get(t, ())))
    ]
    if bad:
        t = bad[0]
        first = f"xymond_rrd {x.rows.get(t, 'none')}, rrdd {r.rows.get(t, 'none')}"
        yield "rows", f"{len(bad)} rows differ, the first at {t}: {first}"


def differences(run: Run, work: Path) -> list[Difference]:
    with ThreadPoolExecutor(2) as pool:
        xymond = pool.submit(run_xymond_rrd, run, work / "xymond_rrd")
        rrdd = pool.submit(run_rrdd, run, work / "rrdd")
        (xdir, crashes), rdir = xymond.result(), rrdd.result()
    x, r = read_tree(xdir, run.start), read_tree(rdir, run.start)
    found = []
    crashed = set()  # the host directories whose files a crash of xymond_rrd left unfinished
    for seq in crashes:
        if run.origin[seq - 1] not in crashed:
            crashed.add(run.origin[seq - 1])
            case, variant, host = run.hosts[run.origin[seq - 1]]
            found.append(Difference(case, variant, host, "", "xymond_rrd crashes", f"#{seq}"))
    for key in sorted(x.keys() | r.keys()):
        case, variant, host = run.hosts[key[0]]
        if key[0] in crashed:
            continue
        if key not in r:
            found.append(Difference(case, variant, host, key[1], "only xymond_rrd"))
        elif key not in x:
            found.append(Difference(case, variant, host, key[1], "only rrdd"))
        else:
            for what, detail in compare(x[key], r[key]):
                found.append(Difference(case, variant, host, key[1], what, detail))
    return found


@pytest.fixture(scope="module")
def found() -> dict[str, list[Difference]]:
    """Every difference, by case."""
    assert os.access(XYMOND_RRD, os.X_OK), f"no {XYMOND_RRD}: apt-get install xymon"
    assert os.path.exists(FAKETIME), f"no {FAKETIME}: apt-get install faketime"
    by_case: dict[str, list[Difference]] = {case_id(f): [] for f in ALL_CASES}
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(2) as pool:
        home = Path(tmp, "home")
        (home / "etc").mkdir(parents=True)
        for f in ETC:
            shutil.copy(f, home / "etc")
        runs = plan(home)
        jobs = [pool.submit(differences, run, Path(tmp, str(n))) for n, run in enumerate(runs)]
        for job in jobs:
            for d in job.result():
                by_case[d.case].append(d)
    return by_case


@pytest.mark.parametrize("msg_file", ALL_CASES, ids=case_id)
def test_xymond_rrd_and_rrdd_write_the_same(
    msg_file: Path, found: dict[str, list[Difference]]
) -> None:
    case = case_id(msg_file)
    unexplained = [d for d in found[case] if not any(k.explains(d) for k in KNOWN)]
    assert not unexplained, "\n".join(map(str, unexplained))
    for known in KNOWN:
        for place in known.places():
            if place[0] == case:
                assert any(known.explains(d, place) for d in found[case]), f"stale: {place}"


def test_each_known_difference_points_at_its_compatibility_entry() -> None:
    entries = " ".join(man_section("COMPATIBILITY").replace("\\-", "-").split())
    cases = {case_id(f) for f in ALL_CASES}
    for known in KNOWN:
        assert " ".join(known.man.replace("\\-", "-").split()) in entries, known.man
        assert set(known.what) <= set(ASPECTS), known.what
        assert {case for case, _ in known.places()} <= cases, known.where
