"""Real nats-servers for the tests: free loopback ports, JetStream in temp dirs.

`NatsServer` is one server; `NatsCluster` three (or more) of them joined by routes, each
with its own JetStream directory and a monitoring port, as a JetStream cluster; `Link`
a TCP connection between two of them that a test cuts and mends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import nats
import nats.errors

from tests.helpers import wait_until

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _quiet(e: Exception) -> None:
    pass


class PortTaken(Exception):
    """Another process took a free port before the server bound it."""


class NatsServer:
    def __init__(
        self, where: Path, extra: str = "", scheme: str = "nats", name: str = "", domain: str = ""
    ):
        self.dir = where
        self.port = free_port()
        self.extra = extra
        self.name = name
        self.domain = domain
        self.scheme = scheme
        self.monitor = free_port() if name else 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self) -> NatsServer:
        """Start the server; a port of its own someone took meanwhile is chosen again."""
        for _ in range(3):
            try:
                return self._start()
            except PortTaken as e:
                if str(e) not in (str(self.port), str(self.monitor)):
                    raise
                self.port, self.monitor = free_port(), free_port() if self.name else 0
        return self._start()

    def _start(self) -> NatsServer:
        conf = self.dir / "nats.conf"
        conf.write_text(
            f'listen: 127.0.0.1:{self.port}\njetstream {{ store_dir: "{self.dir / "js"}" '
            + (f", domain: {self.domain} " if self.domain else "")
            + "}\n"
            + (f"server_name: {self.name}\nhttp: 127.0.0.1:{self.monitor}\n" if self.name else "")
            + self.extra
        )
        log = open(self.dir / "server.log", "ab")  # noqa: SIM115 - the server keeps it
        self.proc = subprocess.Popen(["nats-server", "-c", str(conf)], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                break
            if self.proc.poll() is not None:
                said = (self.dir / "server.log").read_text()
                taken = re.search(r":(\d+): bind: address already in use", said)
                if taken:
                    raise PortTaken(taken[1])
                raise AssertionError(said)
            assert time.monotonic() < deadline, "nats-server did not start"
            time.sleep(0.02)
        return self

    @property
    def up(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.up:
            assert self.proc is not None
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        if self.up:
            assert self.proc is not None
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def call(self, work: Callable[[nats.NATS], Awaitable[T]], **options: object) -> T:
        """Run `work(connection)` against the server, from a test."""
        return call([self.url], work, **options)

    def stored(self, stream: str = "RRDD") -> int:
        async def count(nc: nats.NATS) -> int:
            return int((await nc.jetstream().stream_info(stream)).state.messages)

        return self.call(count)

    def monitoring(self, path: str) -> Any:
        """A page of the server's monitoring port (/jsz, /connz ...), as JSON."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor}{path}", timeout=5) as page:
            return json.load(page)


def call(urls: list[str], work: Callable[[nats.NATS], Awaitable[T]], **options: object) -> T:
    async def main() -> T:
        nc = await nats.connect(  # type: ignore[misc]
            urls, error_cb=_quiet, max_reconnect_attempts=2, **options
        )
        try:
            return await work(nc)
        finally:
            await nc.close()

    return asyncio.run(main())


class NatsCluster:
    """Nodes n1, n2, n3 ... on loopback, routes between them all: one JetStream cluster."""

    def __init__(self, where: Path, size: int = 3):
        self.where, self.size = where, size
        self.nodes = self._nodes()

    def _nodes(self) -> list[NatsServer]:
        routes = [free_port() for _ in range(self.size)]
        joined = ", ".join(f"nats-route://127.0.0.1:{p}" for p in routes)
        nodes = []
        for i, port in enumerate(routes, 1):
            shutil.rmtree(self.where / f"n{i}", ignore_errors=True)  # a failed start's
            (self.where / f"n{i}").mkdir()
            cluster = f"cluster {{ name: rrdd, listen: 127.0.0.1:{port}, routes: [{joined}] }}\n"
            nodes.append(NatsServer(self.where / f"n{i}", extra=cluster, name=f"n{i}"))
        return nodes

    @property
    def url(self) -> str:
        """Every node, as --nats takes them."""
        return ",".join(n.url for n in self.nodes)

    def start(self) -> NatsCluster:
        """Start every node; when another process took a route's port meanwhile, all
        of them again on other ports."""
        for attempt in range(3):
            try:
                for node in self.nodes:
                    node.start()
                break
            except PortTaken:
                self.kill()
                if attempt == 2:
                    raise
                self.nodes = self._nodes()
        wait_until(self.has_meta_leader, 60)
        return self

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()

    def node(self, name: str) -> NatsServer:
        return next(n for n in self.nodes if n.name == name)

    def call(self, work: Callable[[nats.NATS], Awaitable[T]]) -> T:
        """Run `work(connection)` against the nodes that are up."""
        return call([n.url for n in self.nodes if n.up], work)

    def has_meta_leader(self) -> bool:
        async def ask(nc: nats.NATS) -> bool:
            await nc.jetstream(timeout=2).account_info()
            return True

        try:
            return self.call(ask)
        except (nats.errors.Error, TimeoutError, OSError):
            return False

    def stream(self, name: str = "RRDD") -> Any:
        """The stream's info (state, cluster), from its leader; None while it has none."""

        async def ask(nc: nats.NATS) -> Any:
            return await nc.jetstream(timeout=2).stream_info(name)

        try:
            return self.call(ask)
        except (nats.errors.Error, TimeoutError, OSError):
            return None

    def leader(self, stream: str = "RRDD") -> NatsServer:
        info = self.stream(stream)
        assert info is not None and info.cluster is not None and info.cluster.leader
        return self.node(info.cluster.leader)

    def current(self, stream: str = "RRDD") -> bool:
        """The stream has a leader and every replica is up to date."""
        info = self.stream(stream)
        if info is None or info.cluster is None or not info.cluster.leader:
            return False
        return all(r.current and not r.offline for r in info.cluster.replicas or [])

    def clients(self, node: NatsServer) -> list[str]:
        """The names of the clients connected to a node."""
        return [c.get("name", "") for c in node.monitoring("/connz")["connections"] or []]


class Link:
    """A TCP relay on loopback to `port`: the link between two sites. `cut` closes its
    connections and refuses new ones until `mend`."""

    def __init__(self, port: int):
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.up = True
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                near, _ = self.listener.accept()
            except OSError:
                return  # closed
            try:
                far = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                near.close()
                continue
            with self.lock:
                if not self.up:
                    near.close()
                    far.close()
                    continue
                self.sockets += [near, far]
            for a, b in ((near, far), (far, near)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(1 << 16):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self.lock:
            self.up = False
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def mend(self) -> None:
        with self.lock:
            self.up = True
            for s in self.sockets:
                s.close()
            self.sockets = []

    def close(self) -> None:
        self.cut()
        self.mend()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self.listener.close()
