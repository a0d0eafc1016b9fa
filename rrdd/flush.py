"""Flush on view: Xymon's ``rrdctl.<pid>`` datagram socket and the ``rrdd flush`` client.

rrdd holds updates in memory and writes them later, so a graph drawn now could miss the
latest readings. Xymon's showgraph.cgi asks for them first: before it draws a host's
graph it sends the datagram ``/<host>/`` to every ``$XYMONTMP/rrdctl.*`` socket and
ignores the ones nobody listens on. rrdd binds such a socket at start-up,
``<XYMONTMP>/rrdctl.<pid>``, with mode 0666 so that the web server's user may write to
it, and unlinks it when it stops.

The keys (Xymon's, and ``/`` for everything):

* A datagram holds one or more keys separated by ``\\n``. NUL bytes are dropped
  (rrdcachectl sends each line with its ``\\n`` and a NUL), and so is white space around
  a key.
* A key that starts with the RRD directory followed by ``/`` loses the directory:
  ``/var/lib/xymon/rrd/www/la.rrd`` is read as ``/www/la.rrd``.
* ``/<host>/`` is every file of that host: ``FlushRequest(host, None, ...)``.
* ``/<host>/<file>`` is one file in the host's directory: ``FlushRequest(host, file, ...)``.
* ``/`` is every file of every host: ``FlushRequest("", None, ...)``, whose `all_hosts`
  is true. xymond_rrd matched keys as prefixes of its cache keys, so ``/`` flushed its
  whole cache as well.
* Every other key is skipped without a word: no leading ``/``, a host without its
  closing ``/`` (``/www``), and host or file names that `unsafe_name` refuses (empty,
  ``.``, ``..``, holding a ``/``, not UTF-8, too long). So ``/../x/`` and
  ``/a/../../b`` never name a path.

Unlike xymond_rrd, rrdd reads the socket while it waits for channel input, not only after
the next message, and it does not limit a key to one flush a minute: flushing a host
that has nothing pending costs nothing. The kernel queues only a few datagrams (ten, by
default, on Linux: net.unix.max_dgram_qlen) and showgraph's sendto waits while the queue
is full, so the daemon should read the socket whenever it is readable.

Answers: showgraph sends from an unbound socket, which cannot be answered. ``rrdd
flush`` (`request_flush`) binds one of its own, ``<XYMONTMP>/rrdflush.<pid>.<random>``,
sends one key to every ``rrdctl.*`` socket, and waits until each rrdd that received it
has answered once, or until its timeout. The daemon answers every request that has a
sender exactly once. A xymond_rrd (during a migration, say) takes the key and never
answers, so the client waits for a socket only as long as `OTHER_TIMEOUT` unless the
process that ``rrdctl.<pid>`` names runs rrdd (`is_rrdd`, by its command line).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import secrets
import select
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rrdd.errors import ConfigError, StartError
from rrdd.schema import unsafe_name

log = logging.getLogger("rrdd")

# sockaddr_un.sun_path is 108 bytes on Linux and 104 on the BSDs and macOS; other systems
# are assumed to have the smaller size. Python keeps one byte for the closing NUL.
SUN_PATH_MAX = (108 if sys.platform.startswith("linux") else 104) - 1

_DATAGRAM = 1 << 16  # longest datagram read; a longer one is cut, as recv() does
OTHER_TIMEOUT = 2.0  # seconds `rrdd flush` waits for a socket that is not rrdd's
_BATCH = 1000  # datagrams per requests() call, so a flood cannot starve the channel


@dataclass(frozen=True, slots=True)
class FlushRequest:
    """One key from the flush socket: one file, every file of a host, or everything."""

    host: str  # "" (with file None): every host
    file: str | None  # None: every file of the host
    sender: str | None  # the sender's socket address; None when it was not bound

    @property
    def all_hosts(self) -> bool:
        return not self.host


class FlushSocket:
    """The rrdctl.<pid> datagram socket that showgraph sends flush requests to."""

    def __init__(self, tmpdir: Path, rrddir: str, pid: int | None = None):
        self.path = Path(tmpdir) / f"rrdctl.{os.getpid() if pid is None else pid}"
        # With a trailing slash, or when rrddir is "/", a plain prefix test would eat
        # the slash that starts the key.
        self._rrddir = rrddir.rstrip("/")
        self._sock: socket.socket | None = _bind(self.path, "the flush socket")

    def fileno(self) -> int:
        return -1 if self._sock is None else self._sock.fileno()

    def requests(self) -> list[FlushRequest]:
        """Every request queued on the socket, in order of arrival; never blocks or raises."""
        found: list[FlushRequest] = []
        if self._sock is None:
            return found
        for _ in range(_BATCH):
            try:
                data, address = self._sock.recvfrom(_DATAGRAM)
            except OSError:  # BlockingIOError once the queue is empty
                break
            sender = _sender(address)
            for raw in data.split(b"\n"):
                request = self._parse(raw, sender)
                if request is not None:
                    found.append(request)
        return found

    def answer(self, request: FlushRequest, text: str) -> None:
        """Send `text` to the request's sender, if it can be answered; errors are ignored."""
        if request.sender is None or self._sock is None:
            return
        with contextlib.suppress(OSError):
            self._sock.sendto(text.encode("utf-8", "replace"), request.sender)

    def close(self) -> None:
        if self._sock is None:
            return
        self._sock.close()
        self._sock = None
        with contextlib.suppress(OSError):
            os.unlink(self.path)

    def _parse(self, raw: bytes, sender: str | None) -> FlushRequest | None:
        try:
            key = raw.replace(b"\0", b"").decode("utf-8").strip()
        except UnicodeDecodeError:
            return None
        if self._rrddir and key.startswith(self._rrddir + "/"):
            key = key[len(self._rrddir) :]
        if key == "/":
            return FlushRequest("", None, sender)
        if not key.startswith("/"):
            return None
        host, slash, file = key[1:].partition("/")
        if not slash or unsafe_name(host):
            return None
        if not file:
            return FlushRequest(host, None, sender)
        if unsafe_name(file):
            return None
        return FlushRequest(host, file, sender)


def request_flush(
    tmpdir: Path,
    host: str | None = None,
    file: str | None = None,
    timeout: float = 30.0,
    others: float = OTHER_TIMEOUT,
    rrdd: Callable[[int], bool] | None = None,
) -> list[str]:
    """Ask every rrdd in `tmpdir` to write what it holds for `host` (`file`), or for all.

    This is ``rrdd flush [HOST [FILE]]``. The key (``/`` when `host` is None) goes to each
    ``rrdctl.*`` socket from a reply socket bound for the purpose; sockets left behind by
    a worker that has gone (connection refused, no such file) are passed over. Returns
    the answers that arrived in time, at most one from each socket the key reached, in
    order of arrival: within `timeout` seconds from an rrdd (`rrdd`, by default
    `is_rrdd`, tells by the pid in the socket's name), within `others` from the others.

    Raises ConfigError for a host or file name that cannot be a path component, and
    StartError when the reply socket cannot be created in `tmpdir`.
    """
    payload = _key(host, file).encode("utf-8")
    targets = sorted(Path(tmpdir).glob("rrdctl.*"))
    if not targets:
        return []
    is_ours = rrdd or is_rrdd
    own = Path(tmpdir) / f"rrdflush.{os.getpid()}.{secrets.token_hex(4)}"
    sock = _bind(own, "the reply socket")
    try:
        start = time.monotonic()
        waiting: dict[str, float] = {}  # socket name -> when to stop waiting for it
        for target in targets:
            try:
                sock.sendto(payload, os.fspath(target))
            except (ConnectionRefusedError, FileNotFoundError):
                continue  # left behind by a worker that has gone
            except OSError as e:
                log.warning("Cannot send the flush request to %s: %s", target, e.strerror or e)
                continue
            pid = target.name.removeprefix("rrdctl.")
            ours = pid.isascii() and pid.isdigit() and is_ours(int(pid))
            waiting[target.name] = start + (timeout if ours else min(timeout, others))
        return _collect(sock, waiting)
    finally:
        sock.close()
        with contextlib.suppress(OSError):
            os.unlink(own)


def is_rrdd(pid: int) -> bool:
    """Whether process `pid` runs rrdd, by its command line: the rrdd script run by
    itself or by an interpreter, or ``python -m rrdd``. The workers of --workers and
    the create workers are forks, with rrdd's command line. False when /proc cannot
    say (another system, a hidepid mount)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    # xymond_channel's own command line names rrdd further on, but it binds no socket.
    return any(os.path.basename(a) == b"rrdd" for a in args[:2]) or any(
        a == b"-m" and b == b"rrdd" for a, b in itertools.pairwise(args[:4])
    )


def _collect(sock: socket.socket, waiting: dict[str, float]) -> list[str]:
    answers: list[str] = []
    while waiting:
        now = time.monotonic()
        for name in [n for n, deadline in waiting.items() if deadline <= now]:
            del waiting[name]
        if not waiting or not select.select([sock], [], [], min(waiting.values()) - now)[0]:
            continue
        try:
            data, address = sock.recvfrom(_DATAGRAM)
        except BlockingIOError:
            continue
        sender = _sender(address)
        # By name only: the daemon may spell XYMONTMP differently (a symlink, "..").
        name = os.path.basename(sender) if sender else ""
        if waiting.pop(name, None) is not None:
            answers.append(data.decode("utf-8", "replace"))
    return answers


def _key(host: str | None, file: str | None) -> str:
    if host is None:
        if file is not None:
            raise ValueError("a file name needs a host name")
        return "/"
    reason = unsafe_name(host)
    if reason:
        raise ConfigError(f"cannot flush host {host[:80]!r}: {reason}")
    if file is None:
        return f"/{host}/"
    reason = unsafe_name(file)
    if reason:
        raise ConfigError(f"cannot flush file {file[:80]!r}: {reason}")
    return f"/{host}/{file}"


def _sender(address: object) -> str | None:
    """recvfrom's address as a str for sendto; None when the sender was not bound."""
    if isinstance(address, bytes):  # Linux's abstract namespace: a NUL, then a name
        address = os.fsdecode(address)
    return address if isinstance(address, str) and address else None


def _bind(path: Path, what: str) -> socket.socket:
    """A non-blocking datagram socket bound at `path` (any old file there is removed)."""
    size = len(os.fsencode(path))
    if size > SUN_PATH_MAX:
        raise StartError(
            f"cannot create {what} {path}: the path is {size} bytes long, and a Unix "
            f"socket path can have at most {SUN_PATH_MAX}; set a shorter XYMONTMP"
        )
    if not path.parent.is_dir():
        raise StartError(f"cannot create {what} {path}: there is no directory {path.parent}")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    bound = False
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock.bind(os.fspath(path))
        bound = True
        os.chmod(path, 0o666)  # showgraph runs as the web server's user
        sock.setblocking(False)
    except OSError as e:
        sock.close()
        if bound:
            with contextlib.suppress(OSError):
                os.unlink(path)
        raise StartError(f"cannot create {what} {path}: {e.strerror or e}") from None
    return sock
