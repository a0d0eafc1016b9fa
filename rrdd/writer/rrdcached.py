"""The rrdcached store: values go to an rrdcached daemon over one persistent connection.

Addresses as librrd takes them: ``unix:/path``, ``/path``, ``host``, ``host:port`` or
``[v6addr]:port`` (port 42217 by default). Over a Unix socket paths are absolute; over
TCP they are relative to the RRD directory, which must be the daemon's base directory
(``-b``). Updates go in one BATCH per sync, one UPDATE line per value, so the daemon's
error lines name the value they refuse. A batch's answer is read just before the next
command goes out, so the daemon applies one batch while rrdd parses the next; a batch
whose answer never came (the connection was lost) is handed back to be sent again.
When the daemon works in rrdd's own RRD directory (`shares_files`), files are read
here and made by rrdd's creator processes, or with the daemon's CREATE when there are
none (else by rrdd itself). A daemon on another machine is asked for everything: INFO
for a file's data sources and last update, and CREATE, sent in the next BATCH ahead of
the file's first values (no round trip per file; the daemon must run with -R to make
the host directories). When the daemon cannot be reached, the store says so
(StoreUnavailable) and the writer keeps the values; the store tries again after 1, 2,
4 ... 60 seconds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence

from rrdd.events import Counts, Event
from rrdd.writer.store import Librrd, Rejection, Rows, StoreError, StoreUnavailable

log = logging.getLogger("rrdd.rrdcached")

DEFAULT_PORT = 42217
MAX_BACKOFF = 60.0


def parse_address(address: str) -> tuple[int, str | tuple[str, int]]:
    """(socket family, address) for an rrdcached address as librrd writes it."""
    if address.startswith("unix:"):
        return socket.AF_UNIX, address[5:]
    if address.startswith("/"):
        return socket.AF_UNIX, address
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return socket.AF_INET6, (host, int(rest[1:]) if rest.startswith(":") else DEFAULT_PORT)
    host, _, port = address.rpartition(":") if ":" in address else (address, "", "")
    return socket.AF_INET, (host, int(port) if port else DEFAULT_PORT)


def shares_files(address: str, said: bool | None = None) -> bool:
    """Whether the daemon at `address` works in rrdd's own RRD directory: as `said`, or
    when it listens on a Unix socket or a loopback address."""
    if said is not None:
        return said
    family, target = parse_address(address)
    if family == socket.AF_UNIX:
        return True
    host = target[0] if isinstance(target, tuple) else target
    return host in ("localhost", "::1") or host.startswith("127.")


def field(text: str) -> str:
    """`text` as one field of a command: the daemon ends a field at a space and reads a
    backslash as an escape of the next character, so both are escaped, as librrd's own
    client does (a Windows client's file names hold backslashes)."""
    return text.replace("\\", "\\\\").replace(" ", "\\ ")


class Rrdcached:
    batched = True
    daemon = True

    def __init__(
        self,
        address: str,
        rrddir: str,
        *,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        counts: Counts | None = None,
        files_here: bool = True,
    ):
        self.address = address
        self.files_here = files_here  # the daemon works in rrdd's own RRD directory
        self.family, self.target = parse_address(address)
        self.rrddir = rrddir.rstrip("/")
        self.timeout = timeout
        self.clock = clock
        self.local = Librrd()  # for files the daemon will not create, and for info
        self.daemon_creates = True
        self.sock: socket.socket | None = None
        self.reader: socket.SocketIO | None = None
        self._in_flight: list[Rows] = []  # the batch sent last, its answer not read yet
        self._creates: list[tuple[str, str]] = []  # (path, CREATE line) for the next BATCH
        self._creates_in_flight: list[str] = []  # the paths of those sent last
        self._unmade: list[tuple[str, str]] = []  # (path, reason) the daemon did not make
        self._refused: list[Rejection] = []  # from answers read, for answers()
        self._returned: list[Rows] = []  # batches to send again
        self._retry_at = 0.0
        self._backoff = 1.0
        self.counts = Counts() if counts is None else counts
        self._connect()

    # --- the connection ----------------------------------------------------------------

    def _connect(self) -> None:
        try:
            sock = socket.socket(self.family, socket.SOCK_STREAM)
            try:
                sock.settimeout(self.timeout)
                sock.connect(self.target)
            except OSError:
                sock.close()  # now, not when the exception that holds it is freed
                raise
        except OSError as e:
            raise StoreUnavailable(f"cannot connect to rrdcached at {self.address}: {e}") from None
        self.sock = sock
        self.reader = sock.makefile("rb")  # type: ignore[assignment]
        self._backoff = 1.0

    def _lost(self, why: str) -> StoreUnavailable:
        log.error("rrdcached at %s: %s; trying again in %.0f s", self.address, why, self._backoff)
        self._drop()
        self._retry_at = self.clock() + self._backoff
        self._backoff = min(MAX_BACKOFF, self._backoff * 2)
        return StoreUnavailable(why)

    def _drop(self) -> None:
        for closable in (self.reader, self.sock):
            if closable is not None:
                with contextlib.suppress(OSError):
                    closable.close()
        self.sock = self.reader = None

    def _ensure(self) -> None:
        if self.sock is not None:
            return
        if self.clock() < self._retry_at:
            raise StoreUnavailable("rrdcached is not reachable")
        try:
            self._connect()
        except StoreUnavailable as e:
            raise self._lost(str(e)) from None
        self.counts.add(Event.RRDCACHED_RECONNECTS)
        log.info("rrdcached at %s reached again", self.address)

    @property
    def connected(self) -> bool:
        return self.sock is not None

    def _send(self, data: bytes) -> None:
        assert self.sock is not None
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise self._lost(str(e)) from None

    def _line(self) -> str:
        assert self.reader is not None
        try:
            line = self.reader.readline()
        except OSError as e:
            raise self._lost(str(e)) from None
        if not line:
            raise self._lost("the connection was closed")
        return line.decode("utf-8", "replace").rstrip("\n")

    def _command(self, text: str) -> tuple[int, str, list[str]]:
        """Send one command; its status, message and the lines that follow."""
        self._settle()
        self._ensure()
        self._send(text.encode("utf-8", "surrogateescape") + b"\n")
        status, _, message = self._line().partition(" ")
        code = int(status) if status.lstrip("-").isdigit() else -1
        return code, message, [self._line() for _ in range(max(0, code))]

    def _name(self, path: str) -> str:
        """The file's name in a command, as a field."""
        if self.family == socket.AF_UNIX:
            return field(path)
        return field(os.path.relpath(path, self.rrddir))

    # --- the store ---------------------------------------------------------------------

    def create(self, path: str, args: Sequence[str]) -> None:
        if not self.files_here:  # with the file's first values, in the next BATCH
            self._creates.append((path, " ".join(["CREATE", self._name(path), *map(field, args)])))
            return
        if self.daemon_creates:
            try:
                code, message, _ = self._command(
                    " ".join(["CREATE", self._name(path), *map(field, args)])
                )
            except StoreUnavailable:
                self.local.create(path, args)  # the directory is shared: no value waits
                return
            if code >= 0:
                return
            if "Unknown command" in message or "denied" in message.lower():
                log.info("rrdcached does not create files (%s); rrdd creates them", message)
                self.daemon_creates = False
            else:
                raise StoreError(message)
        self.local.create(path, args)

    def info(self, path: str) -> tuple[int, tuple[str, ...]]:
        """The file's last update and DS names; from the daemon when its files are not
        here (FileNotFoundError when it has none; StoreError when it cannot say)."""
        if self.files_here:
            return self.local.info(path)
        try:
            code, message, lines = self._command(f"INFO {self._name(path)}")
        except StoreUnavailable as e:
            raise StoreError(f"rrdcached cannot say: {e}") from None
        if code < 0:
            if "No such file" in message:
                raise FileNotFoundError(path)
            raise StoreError(message)
        last, index = 0, {}
        for line in lines:  # "<key> <type> <value>"
            key, _, rest = line.partition(" ")
            value = rest.partition(" ")[2]
            if key == "last_update":
                last = int(value)
            elif key.startswith("ds[") and key.endswith("].index"):
                index[key[3:-7]] = int(value)
        return last, tuple(sorted(index, key=index.__getitem__))

    def unmade(self) -> list[tuple[str, str]]:
        """The files the daemon refused to make since the last call, and why."""
        self._settle()
        unmade, self._unmade = self._unmade, []
        return unmade

    def send(self, batch: Sequence[Rows]) -> None:
        """Send one BATCH and return without its answer: the daemon applies it while
        rrdd reads on. The answer is read before the next command (one batch in flight)."""
        self._settle()
        self._ensure()
        creates, self._creates = self._creates, []
        lines = [line for _, line in creates]
        for path, rows in batch:
            if rows:  # one UPDATE line per row
                prefix = f"UPDATE {self._name(path)} "
                lines.append(prefix + field(rows).replace("\n", f"\n{prefix}"))
        # The lines go with the BATCH command, not after its go-ahead: one round trip.
        payload = "BATCH\n" + "\n".join(lines) + "\n.\n"
        try:
            self._send(payload.encode("utf-8", "surrogateescape"))
        except StoreUnavailable:
            self._creates[:0] = creates
            raise
        self._in_flight = list(batch)
        self._creates_in_flight = [path for path, _ in creates]

    def answers(self) -> tuple[list[Rejection], list[Rows]]:
        self._settle()
        refused, returned = self._refused, self._returned
        self._refused, self._returned = [], []
        return refused, returned

    def _settle(self) -> None:
        """Read the answer to the batch in flight: its refused rows, or, when the
        connection is lost first, the whole batch to send again."""
        batch, self._in_flight = self._in_flight, []
        made, self._creates_in_flight = self._creates_in_flight, []
        if not batch:
            return
        try:
            code, _, message = self._line().partition(" ")
            if code != "0":
                raise self._lost(f"BATCH refused: {code} {message}")
            status, _, _ = self._line().partition(" ")
            errors = [self._line() for _ in range(int(status) if status.isdigit() else 0)]
        except StoreUnavailable:
            self._returned += batch
            return
        if errors:
            rows = [(path, row) for path, lines in batch for row in lines.split("\n")]
            for error in errors:
                number, _, reason = error.partition(" ")  # the line's number in the batch
                if not number.isdigit():
                    continue
                line = int(number) - len(made)  # the CREATE lines come first
                if line <= 0 and int(number) > 0:
                    self._unmade.append((made[int(number) - 1], reason))
                elif line <= len(rows):
                    self._refused.append((*rows[line - 1], reason))

    def flush(self, paths: Sequence[str]) -> None:
        for path in paths:
            with contextlib.suppress(StoreUnavailable):
                self._command(f"FLUSH {self._name(path)}")

    def forget(self, paths: Sequence[str]) -> None:
        for path in paths:
            with contextlib.suppress(StoreUnavailable):
                self._command(f"FORGET {self._name(path)}")

    def close(self) -> None:
        self._settle()
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.sendall(b"QUIT\n")
        self._drop()
