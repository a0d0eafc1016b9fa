"""rrdd inside the real Xymon: xymond 4.3 from Debian's xymon package, the stock two RRD
tasks on one RRD directory, messages from Xymon's own programs, graphs from showgraph.cgi.

One xymond serves the module, on a free loopback port, with its own XYMONHOME, XYMONVAR and
XYMONTMP in a temp directory; no init script runs and no system file is touched. Its tasks
are started as tasks.cfg starts them:

    xymond_channel --channel=status --log=rrd-status.log rrdd --rrddir=DIR --config=FILE
    xymond_channel --channel=data --log=rrd-data.log rrdd --rrddir=DIR --config=FILE
    xymond_channel --channel=client xymond_client

Each test has host names of its own. rrddefinitions.cfg gives new files a one-second step
(a "-s" line, which xymond_rrd honours as well), so that a few seconds of messages fill
data points that rrdtool fetch returns and showgraph draws.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlencode

import pytest
import rrdtool

from tests.helpers import wait_until
from tests.pngpixels import rgb_pixels

SERVER = Path("/usr/lib/xymon/server/bin")
CLIENT = Path("/usr/lib/xymon/client")  # the Linux client's XYMONHOME
PACKAGE_ETC = Path("/etc/xymon")  # the package's configuration files, copied as they ship
RRDD = Path(sys.executable).with_name("rrdd")
RRD_CHANNELS = ("status", "data")
CLIENT_HOST = "lnx1"
# xymond takes messages for the hosts in hosts.cfg only: every host a test uses is here.
# (--ghosts=allow would let in others, but xymond 4.3.30 aborts when it reloads hosts.cfg
# and forgets them.)
HOSTS = (
    *("start", "sync", "web1", "graph1", "dsk1", CLIENT_HOST),
    *("drop-status", "drop-data", "drop-both", "droptest-status", "droptest-data"),
    *("droptest-both", "old-status", "new-status", "old-data", "new-data"),
    *("svc-status", "svc-data"),
)
CPU_FILES = ["la.rrd", "procs.rrd", "users.rrd"]
PROBLEM = re.compile(r"rrdd\[\d+\] (?:ERROR|WARNING) .*")
RELOADED = "Configuration reloaded"

RRDDEFINITIONS = """\
# Xymon's four RRAs, at a one-second step
[]
\t-s
\t1
\tRRA:AVERAGE:0.5:1:576
\tRRA:AVERAGE:0.5:6:576
\tRRA:AVERAGE:0.5:24:576
\tRRA:AVERAGE:0.5:288:576
"""


class Xymon:
    """A xymond with its tasks in a directory of its own, and what the tests do with it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.etc = root / "home" / "etc"
        self.rrddir = root / "var" / "rrd"
        self.tmp = root / "tmp"
        self.logs = root / "logs"
        self.config = self.etc / "rrdd.toml"  # what both RRD tasks read, as /etc/rrdd/rrdd.toml
        self.port = free_port()
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "XYMONHOME": str(root / "home"),
            "XYMONVAR": str(root / "var"),
            "XYMONRRDS": str(self.rrddir),
            "XYMONTMP": str(self.tmp),
            "XYMONSERVERLOGS": str(self.logs),
            "HOSTSCFG": str(self.etc / "hosts.cfg"),
            "XYMSRV": "127.0.0.1",
            "XYMONDPORT": str(self.port),
        }
        self.procs: list[subprocess.Popen[bytes]] = []
        self.channels: dict[str, subprocess.Popen[bytes]] = {}
        self.client: subprocess.Popen[bytes] | None = None
        self.syncs = 0
        self.settled = 0  # the second by which xymond has stamped every message sent

    # --- start and stop ------------------------------------------------------------------

    def start(self) -> None:
        for d in (self.etc / "hosts.d", self.rrddir, self.tmp, self.logs, self.root / "empty"):
            d.mkdir(parents=True)
        for name in ("graphs.cfg", "analysis.cfg", "protocols.cfg", "snmpmibs.cfg"):
            shutil.copy(PACKAGE_ETC / name, self.etc / name)
        (self.etc / "rrddefinitions.cfg").write_text(RRDDEFINITIONS)
        # The reload test edits the included file: rrdd's file watcher does not look into
        # hosts.d/, so only xymond's @@reload can tell rrdd about it.
        (self.etc / "hosts.cfg").write_text(
            "".join(f"127.0.0.1 {h} #\n" for h in HOSTS) + f"include {self.etc}/hosts.d/more.cfg\n"
        )
        (self.etc / "hosts.d" / "more.cfg").write_text("# hosts the tests add\n")
        self.config.write_text("# read by both RRD tasks\n")
        self.xymond = self.spawn(
            "xymond",
            SERVER / "xymond",
            f"--listen=127.0.0.1:{self.port}",
            "--no-daemon",
        )
        wait_until(self.answers)
        for channel in RRD_CHANNELS:
            log = self.logs / f"rrd-{channel}.log"
            self.channels[channel] = self.spawn(
                f"channel-{channel}",
                SERVER / "xymond_channel",
                f"--channel={channel}",
                f"--log={log}",
                RRDD,
                f"--rrddir={self.rrddir}",
                f"--config={self.config}",
            )
        self.spawn(
            "channel-client",
            SERVER / "xymond_channel",
            "--channel=client",
            SERVER / "xymond_client",
        )
        wait_until(self.started, 30)
        self.start_client()

    def spawn(self, name: str, *argv: object) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.out").open("ab") as out:
            p = subprocess.Popen(
                [str(a) for a in argv],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.procs.append(p)
        return p

    def answers(self) -> bool:
        p = self.run(SERVER / "xymon", f"127.0.0.1:{self.port}", "ping", check=False)
        return p.stdout.startswith(b"xymond")

    def started(self) -> bool:
        """Whether both rrdd read their channel. xymond_channel starts its worker at the
        first message and drops what xymond posts before it is attached, so send again."""
        self.send(cpu("start", "0.00"))
        self.send(trends("start", "start.rrd", 0))
        return all((self.rrddir / "start" / f).exists() for f in ("la.rrd", "start.rrd"))

    def start_client(self) -> None:
        """Xymon's Linux client reports on this machine. It takes 5 s (it waits for a vmstat
        it starts), so it runs while the other tests do; its test comes last."""
        env = {
            **self.env,
            "XYMONHOME": str(CLIENT),
            "MACHINE": CLIENT_HOST,
            "MACHINEDOTS": CLIENT_HOST,
            "SERVEROSTYPE": "linux",
            "XYMON": str(CLIENT / "bin" / "xymon"),
        }
        with (self.logs / "client.out").open("ab") as out:
            self.client = subprocess.Popen(
                [CLIENT / "bin" / "xymonclient.sh"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.client is not None:
            with suppress(ProcessLookupError):  # its vmstat runs for 5 minutes
                os.killpg(self.client.pid, signal.SIGKILL)
            self.client.wait()
        pids = [pid for p in self.procs for pid in descendants(p.pid)]
        # xymond (the first) tells its tasks to shut down; xymond_channel lives on until
        # stopped itself.
        for p in self.procs:
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        try:
            wait_until(lambda: not any(map(running, pids)))
        finally:
            for pid in filter(running, pids):
                os.kill(pid, signal.SIGKILL)

    # --- talking to it -------------------------------------------------------------------

    def run(
        self, *argv: object, check: bool = True, **env: str
    ) -> subprocess.CompletedProcess[bytes]:
        p = subprocess.run(
            [str(a) for a in argv],
            env={**self.env, **env},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
        )
        assert not check or p.returncode == 0, p
        return p

    def send(self, message: str) -> None:
        """Send a message to xymond with Xymon's own client program."""
        self.run(SERVER / "xymon", f"127.0.0.1:{self.port}", message)

    def sync(self) -> None:
        """Wait until both rrdd have read every message xymond took before the call.

        xymond posts messages in the order it takes them and each rrdd reads its channel
        in order, so files that first appear now prove that the rest was read.
        """
        self.syncs += 1
        mark = f"sync{self.syncs}"
        self.send(disk("sync", [f"/{mark}"]))
        self.send(trends("sync", f"{mark}.rrd", 0))
        self.wait_for_files("sync", [f"disk,{mark}.rrd", f"{mark}.rrd"])
        self.settled = int(time.time())

    def next_second(self) -> None:
        """Wait for a second after xymond's stamp on every message read so far: a file takes
        one value per second (the stamp, in whole seconds, is the RRD update time)."""
        wait_until(lambda: int(time.time()) > self.settled)

    def wait_for_files(self, host: str, names: Iterable[str]) -> None:
        wait_until(lambda: all((self.rrddir / host / n).exists() for n in names))

    def flush(self, host: str | None = None) -> None:
        """`rrdd flush`: both rrdd write what they hold, and answer."""
        p = self.run(RRDD, "flush", *([host] if host else []), "--timeout=20")
        assert len(p.stdout.splitlines()) == 2, p

    def showgraph(self, flush: bool = True, **query: object) -> bytes:
        """What showgraph.cgi, run as a CGI, sends back: a PNG.

        RRDGRAPHOPTS (xymonserver.cfg(5)) leaves the legend out, so that every strong colour
        in the picture is data. Without `flush` showgraph finds no rrdctl socket to ask.
        """
        p = self.run(
            SERVER / "showgraph.cgi",
            QUERY_STRING=urlencode(query),
            REQUEST_METHOD="GET",
            SCRIPT_NAME="/xymon-cgi/showgraph.sh",
            RRDGRAPHOPTS="--no-legend",
            XYMONTMP=str(self.tmp if flush else self.root / "empty"),
        )
        head, _, png = p.stdout.partition(b"\n\n")
        assert b"Content-type: image/png" in head, p
        return png

    @contextmanager
    def paused(self, channel: str) -> Iterator[None]:
        """The channel's reader stopped, so that the other rrdd acts first on what comes.

        xymond_channel is stopped (SIGSTOP), not rrdd: it waits for its worker in its
        SIGCHLD handler, which a stopped worker makes it do for good. xymond waits up to 5 s
        for a stopped reader to take a message before it posts the next one, and then drops
        that: send one message while a channel is paused.
        """
        pid = self.channels[channel].pid
        os.kill(pid, signal.SIGSTOP)
        try:
            wait_until(lambda: proc_state(pid) == "T")
            yield
        finally:
            os.kill(pid, signal.SIGCONT)

    def logs_size(self) -> dict[str, int]:
        return {c: (self.logs / f"rrd-{c}.log").stat().st_size for c in RRD_CHANNELS}

    def log_since(self, mark: dict[str, int]) -> str:
        text = ""
        for channel, size in mark.items():
            with (self.logs / f"rrd-{channel}.log").open("rb") as f:
                f.seek(size)
                text += f.read().decode(errors="replace")
        return text

    def problems_since(self, mark: dict[str, int]) -> list[str]:
        """The errors and warnings the two rrdd logged since `mark`."""
        return PROBLEM.findall(self.log_since(mark))

    def reloads(self) -> dict[str, int]:
        return {c: (self.logs / f"rrd-{c}.log").read_text().count(RELOADED) for c in RRD_CHANNELS}


@pytest.fixture(scope="module")
def xymon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Xymon]:
    x = Xymon(tmp_path_factory.mktemp("xymon"))
    try:
        x.start()
        yield x
    finally:
        x.stop()


# --- helpers ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def children(pid: int) -> list[int]:
    with suppress(OSError):
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def descendants(pid: int) -> list[int]:
    return [pid] + [d for c in children(pid) for d in descendants(c)]


def proc_state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "gone"
    return stat.rsplit(")", 1)[1].split()[0]


def running(pid: int) -> bool:
    return proc_state(pid) not in ("gone", "Z")


def other(channel: str) -> str:
    (name,) = set(RRD_CHANNELS) - {channel}
    return name


def cpu(host: str, load: str, users: int = 2, procs: int = 120) -> str:
    uptime = f"up: 3 days, {users} users, {procs} procs, load={load}"
    return f"status {host}.cpu green {time.ctime()} {uptime}"


def trends(host: str, file: str, value: float, ds: str = "temp") -> str:
    return f"data {host}.trends\n[{file}]\nDS:{ds}:GAUGE:600:U:U {value}"


def many_trends(host: str, count: int) -> str:
    return f"data {host}.trends\n" + "".join(
        f"[f{n}.rrd]\nDS:temp:GAUGE:600:U:U {n}\n" for n in range(count)
    )


def disk(host: str, mounts: Iterable[str]) -> str:
    rows = "".join(f"/dev/vd{n} 1000000 400000 600000 40% {m}\n" for n, m in enumerate(mounts))
    return (
        f"status {host}.disk green {time.ctime()} - Filesystems OK\n\n"
        f"Filesystem 1024-blocks Used Available Capacity Mounted on\n{rows}"
    )


def ssh(host: str, seconds: str) -> str:
    return (
        f"status {host}.ssh green {time.ctime()} ssh ok\n\n"
        f"Service ssh on {host} is OK (up)\n\nSSH-2.0-OpenSSH_9.2p1\n\nSeconds: {seconds}\n"
    )


def ifstat(host: str, interfaces: Iterable[str]) -> str:
    blocks = "".join(
        f"{name}: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1500\n"
        f"        inet 192.0.2.{n + 1}  netmask 255.255.255.0  broadcast 192.0.2.255\n"
        f"        RX packets 1000  bytes {100000 * (n + 1)} (97.6 KiB)\n"
        f"        TX packets 500  bytes {50000 * (n + 1)} (48.8 KiB)\n\n"
        for n, name in enumerate(interfaces)
    )
    return f"data {host}.ifstat\nlinux\n{blocks}"


def last_update(path: Path) -> int:
    update: int = rrdtool.info(str(path))["last_update"]
    return update


def last_value(path: Path, ds: str) -> float:
    value: float = rrdtool.lastupdate(str(path))["ds"][ds]
    return value


def values(path: Path) -> list[float]:
    """The values a one-second file took, in order, each once (the rounds send different
    values, and a value fills every second up to its update)."""
    end = last_update(path)
    _, _, rows = rrdtool.fetch(
        str(path), "AVERAGE", "-r", "1", "-s", str(end - 120), "-e", str(end)
    )
    seen: list[float] = []
    for (value,) in rows:
        if value is not None and (not seen or value != seen[-1]):
            seen.append(value)
    return seen


def data_pixels(png: bytes) -> int:
    """Pixels in a strong colour: graphs.cfg draws data in such colours; rrdtool draws its
    grid, axes and texts in greys and pale reds."""
    return sum(1 for p in rgb_pixels(png) if max(p) - min(p) > 100)


# --- the tests -------------------------------------------------------------------------


def test_rounds_of_messages_are_stored_with_xymons_names_and_values(xymon: Xymon) -> None:
    host = "web1"
    rounds = [("0.25", 2, 110, 21.5), ("1.50", 3, 125, 22.0), ("3.75", 5, 140, 19.25)]
    for load, users, procs, temp in rounds:
        xymon.next_second()
        xymon.send(cpu(host, load, users, procs))
        xymon.send(trends(host, "t.rrd", temp))
        xymon.sync()
    xymon.flush(host)
    files = xymon.rrddir / host
    assert sorted(os.listdir(files)) == ["la.rrd", "procs.rrd", "t.rrd", "users.rrd"]
    assert values(files / "la.rrd") == [25, 150, 375]  # a load of x.yy is stored as x.yy * 100
    assert values(files / "users.rrd") == [2, 3, 5]
    assert values(files / "procs.rrd") == [110, 125, 140]
    assert values(files / "t.rrd") == [21.5, 22.0, 19.25]
    assert last_value(files / "la.rrd", "la") == 375
    assert last_value(files / "t.rrd", "temp") == 19.25


def test_showgraph_draws_the_value_rrdd_held_after_asking_for_it(xymon: Xymon) -> None:
    host = "graph1"
    la = xymon.rrddir / host / "la.rrd"
    xymon.send(cpu(host, "2.00"))
    xymon.sync()
    xymon.flush(host)
    written = last_update(la)
    xymon.next_second()
    xymon.send(cpu(host, "9.00"))
    xymon.sync()
    assert last_update(la) == written  # rrdd holds the new value
    window = dict(host=host, service="la", graph="custom", action="view")
    window.update(graph_start=written, graph_end=written + 60)
    # Without a flush request nothing in the window is on disk, so nothing is drawn.
    assert data_pixels(xymon.showgraph(flush=False, **window)) == 0
    # showgraph gives rrdd 0.3 s to write before it draws: ask again if that was too short.
    wait_until(lambda: data_pixels(xymon.showgraph(**window)) > 0)
    assert last_update(la) > written
    assert last_value(la, "la") == 900


def test_xymond_reload_reaches_both_rrdd(xymon: Xymon) -> None:
    """hosts.cfg edited and xymond sent a SIGHUP: xymond reads it again and posts @@reload
    on every channel; the data-channel rrdd then takes the new INTERFACES: filter.

    Before the drop tests: xymond 4.3.30 aborts when it reloads hosts.cfg after a "drop".
    """
    before = xymon.reloads()
    with (xymon.etc / "hosts.d" / "more.cfg").open("a") as f:
        f.write("127.0.0.1 nic1 # INTERFACES:eth0\n")
    xymon.xymond.send_signal(signal.SIGHUP)
    wait_until(lambda: all(n > before[c] for c, n in xymon.reloads().items()))
    xymon.send(ifstat("nic1", ["eth0", "eth1"]))
    xymon.sync()
    xymon.wait_for_files("nic1", ["ifstat.eth0.rrd"])
    assert os.listdir(xymon.rrddir / "nic1") == ["ifstat.eth0.rrd"]


def test_a_changed_configuration_file_reloads_both_rrdd(xymon: Xymon) -> None:
    before = xymon.reloads()
    new = xymon.config.with_suffix(".new")  # as an editor saves it
    new.write_text('norrddisks = "^/scratch"\n')
    new.replace(xymon.config)
    wait_until(lambda: all(n > before[c] for c, n in xymon.reloads().items()))
    xymon.send(disk("dsk1", ["/data", "/scratch"]))
    xymon.sync()
    xymon.wait_for_files("dsk1", ["disk,data.rrd"])
    assert os.listdir(xymon.rrddir / "dsk1") == ["disk,data.rrd"]


@pytest.mark.parametrize("first", RRD_CHANNELS)
def test_drop_host_reaches_both_rrdd_and_nothing_comes_back(xymon: Xymon, first: str) -> None:
    host = f"drop-{first}"
    xymon.send(cpu(host, "1.00"))
    xymon.send(trends(host, "t.rrd", 20))
    xymon.wait_for_files(host, [*CPU_FILES, "t.rrd"])  # each rrdd holds values of the host
    mark = xymon.logs_size()
    with xymon.paused(other(first)):
        xymon.send(f"drop {host}")
        wait_until(lambda: not (xymon.rrddir / host).exists())
    xymon.sync()
    xymon.flush()
    assert not (xymon.rrddir / host).exists()
    assert xymon.problems_since(mark) == []


def test_drop_host_by_both_rrdd_at_once_logs_no_error(xymon: Xymon) -> None:
    host = "drop-both"
    xymon.send(disk(host, [f"/fs{n}" for n in range(100)]))
    xymon.send(many_trends(host, 100))
    xymon.wait_for_files(host, [f"disk,fs{n}.rrd" for n in range(100)])
    xymon.wait_for_files(host, [f"f{n}.rrd" for n in range(100)])
    mark = xymon.logs_size()
    xymon.send(f"drop {host}")  # both delete the one directory, whichever is faster
    wait_until(lambda: not (xymon.rrddir / host).exists())
    xymon.sync()
    xymon.flush()
    assert not (xymon.rrddir / host).exists()
    assert xymon.problems_since(mark) == []


@pytest.mark.parametrize("first", RRD_CHANNELS)
def test_drop_test_reaches_both_rrdd_and_nothing_comes_back(xymon: Xymon, first: str) -> None:
    host = f"droptest-{first}"
    xymon.send(cpu(host, "1.00"))
    xymon.send(trends(host, "t.rrd", 20))
    xymon.wait_for_files(host, [*CPU_FILES, "t.rrd"])
    mark = xymon.logs_size()
    with xymon.paused(other(first)):
        xymon.send(f"drop {host} cpu")
        wait_until(lambda: not (xymon.rrddir / host / "la.rrd").exists())
    xymon.sync()
    xymon.flush()
    assert os.listdir(xymon.rrddir / host) == ["t.rrd"]
    assert last_value(xymon.rrddir / host / "t.rrd", "temp") == 20
    assert xymon.problems_since(mark) == []


def test_drop_test_by_both_rrdd_at_once_logs_no_error(xymon: Xymon) -> None:
    host = "droptest-both"
    xymon.send(disk(host, [f"/fs{n}" for n in range(100)]))
    xymon.send(trends(host, "t.rrd", 20))
    xymon.wait_for_files(host, [*(f"disk,fs{n}.rrd" for n in range(100)), "t.rrd"])
    mark = xymon.logs_size()
    xymon.send(f"drop {host} disk")  # both delete the same hundred files
    wait_until(lambda: os.listdir(xymon.rrddir / host) == ["t.rrd"])
    xymon.sync()
    xymon.flush()
    assert os.listdir(xymon.rrddir / host) == ["t.rrd"]
    assert xymon.problems_since(mark) == []


@pytest.mark.parametrize("first", RRD_CHANNELS)
def test_rename_host_keeps_every_value_whichever_rrdd_moves_first(xymon: Xymon, first: str) -> None:
    old, new = f"old-{first}", f"new-{first}"
    xymon.send(cpu(old, "4.00"))
    xymon.send(trends(old, "t.rrd", 30))
    xymon.wait_for_files(old, [*CPU_FILES, "t.rrd"])  # both rrdd hold values of the old name
    mark = xymon.logs_size()
    with xymon.paused(other(first)):
        xymon.send(f"rename {old} {new}")
        wait_until(lambda: (xymon.rrddir / new).exists() and not (xymon.rrddir / old).exists())
    xymon.sync()
    xymon.flush()
    assert not (xymon.rrddir / old).exists()
    assert sorted(os.listdir(xymon.rrddir / new)) == sorted([*CPU_FILES, "t.rrd"])
    assert last_value(xymon.rrddir / new / "la.rrd", "la") == 400
    assert last_value(xymon.rrddir / new / "t.rrd", "temp") == 30
    assert xymon.problems_since(mark) == []


@pytest.mark.parametrize("first", RRD_CHANNELS)
def test_rename_test_keeps_every_value_whichever_rrdd_moves_first(xymon: Xymon, first: str) -> None:
    host = f"svc-{first}"
    xymon.send(ssh(host, "0.25"))
    xymon.send(trends(host, "t.rrd", 20))
    xymon.wait_for_files(host, ["tcp.ssh.rrd", "t.rrd"])
    mark = xymon.logs_size()
    with xymon.paused(other(first)):
        xymon.send(f"rename {host} ssh sshd")
        wait_until(lambda: (xymon.rrddir / host / "tcp.sshd.rrd").exists())
    xymon.sync()
    xymon.flush()
    assert sorted(os.listdir(xymon.rrddir / host)) == ["t.rrd", "tcp.sshd.rrd"]
    assert last_value(xymon.rrddir / host / "tcp.sshd.rrd", "sec") == 0.25
    assert xymon.problems_since(mark) == []


def test_the_linux_clients_report_is_stored_and_graphed(xymon: Xymon) -> None:
    assert xymon.client is not None
    assert xymon.client.wait(60) == 0
    files = xymon.rrddir / CLIENT_HOST
    # From the statuses and data messages xymond_client makes of the report.
    xymon.wait_for_files(CLIENT_HOST, ["la.rrd", "memory.real.rrd", "netstat.rrd"])
    xymon.flush(CLIENT_HOST)
    end = last_update(files / "memory.real.rrd")
    png = xymon.showgraph(
        host=CLIENT_HOST,
        service="memory",
        graph="custom",
        action="view",
        graph_start=end - 30,
        graph_end=end + 30,
    )
    assert data_pixels(png) > 0
