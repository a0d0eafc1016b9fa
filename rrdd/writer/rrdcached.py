"""The rrdcached store: values go to an rrdcached daemon over one persistent connection.

Addresses as librrd takes them: ``unix:/path``, ``/path``, ``host``, ``host:port`` or
``[v6addr]:port`` (port 42217 by default). Over a Unix socket paths are absolute; over
TCP they are relative to the RRD directory, which must be the daemon's base directory
(``-b``). Updates go in one BATCH per sync, one UPDATE line per value, so the daemon's
error lines name the value they refuse. Files are created with the daemon's CREATE when
it allows it, else by rrdd itself (the directory is shared). When the daemon cannot be
reached, the store says so (StoreUnavailable) and the writer keeps the values; the store
tries again after 1, 2, 4 ... 60 seconds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Sequence

from rrdd.writer.store import Librrd, Rejection, StoreError, StoreUnavailable

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


class Rrdcached:
    batched = True

    def __init__(
        self,
        address: str,
        rrddir: str,
        *,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        stats: Counter[str] | None = None,
    ):
        self.address = address
        self.family, self.target = parse_address(address)
        self.rrddir = rrddir.rstrip("/")
        self.timeout = timeout
        self.clock = clock
        self.local = Librrd()  # for files the daemon will not create, and for info
        self.daemon_creates = True
        self.sock: socket.socket | None = None
        self.reader: socket.SocketIO | None = None
        self._retry_at = 0.0
        self._backoff = 1.0
        self.stats: Counter[str] = Counter() if stats is None else stats
        self._connect()

    # --- the connection ----------------------------------------------------------------

    def _connect(self) -> None:
        try:
            sock = socket.socket(self.family, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            sock.connect(self.target)
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
        self.stats["rrdcached_reconnects"] += 1
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
        self._ensure()
        self._send(text.encode("utf-8", "surrogateescape") + b"\n")
        status, _, message = self._line().partition(" ")
        code = int(status) if status.lstrip("-").isdigit() else -1
        return code, message, [self._line() for _ in range(max(0, code))]

    def _name(self, path: str) -> str:
        if self.family == socket.AF_UNIX:
            return path
        return os.path.relpath(path, self.rrddir)

    # --- the store ---------------------------------------------------------------------

    def create(self, path: str, args: Sequence[str]) -> None:
        if self.daemon_creates:
            try:
                code, message, _ = self._command(" ".join(["CREATE", self._name(path), *args]))
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
        return self.local.info(path)

    def write(self, batch: Sequence[tuple[str, Sequence[str]]]) -> list[Rejection]:
        self._ensure()
        lines = []
        where: list[tuple[int, int]] = []
        for i, (path, rows) in enumerate(batch):
            name = self._name(path)
            for j, row in enumerate(rows):
                lines.append(f"UPDATE {name} {row}\n")
                where.append((i, j))
        # The lines go with the BATCH command, not after its go-ahead: one round trip.
        self._send(b"BATCH\n" + "".join(lines).encode("utf-8", "surrogateescape") + b".\n")
        code, _, message = self._line().partition(" ")
        if code != "0":
            raise self._lost(f"BATCH refused: {code} {message}")
        status, _, _ = self._line().partition(" ")
        rejected: list[Rejection] = []
        for _ in range(int(status) if status.isdigit() else 0):
            number, _, reason = self._line().partition(" ")
            if number.isdigit() and 0 < int(number) <= len(where):
                i, j = where[int(number) - 1]
                rejected.append((i, j, reason))
        return rejected

    def flush(self, paths: Sequence[str]) -> None:
        for path in paths:
            with contextlib.suppress(StoreUnavailable):
                self._command(f"FLUSH {self._name(path)}")

    def forget(self, paths: Sequence[str]) -> None:
        for path in paths:
            with contextlib.suppress(StoreUnavailable):
                self._command(f"FORGET {self._name(path)}")

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.sendall(b"QUIT\n")
        self._drop()
