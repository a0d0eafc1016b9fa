"""A real nats-server for the tests: a free loopback port, JetStream in a temp dir."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import nats

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NatsServer:
    def __init__(self, where: Path, extra: str = "", scheme: str = "nats"):
        self.dir = where
        self.port = free_port()
        self.extra = extra
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> NatsServer:
        conf = self.dir / "nats.conf"
        conf.write_text(
            f'listen: 127.0.0.1:{self.port}\njetstream {{ store_dir: "{self.dir / "js"}" }}\n'
            + self.extra
        )
        log = open(self.dir / "server.log", "ab")  # noqa: SIM115 - the server keeps it
        self.proc = subprocess.Popen(["nats-server", "-c", str(conf)], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                break
            assert self.proc.poll() is None, (self.dir / "server.log").read_text()
            assert time.monotonic() < deadline, "nats-server did not start"
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def call(self, work: Callable[[nats.NATS], Awaitable[T]], **options: object) -> T:
        """Run `work(connection)` against the server, from a test."""

        async def main() -> T:
            nc = await nats.connect(self.url, **options)  # type: ignore[arg-type]
            try:
                return await work(nc)
            finally:
                await nc.close()

        return asyncio.run(main())

    def stored(self, stream: str = "RRDD") -> int:
        async def count(nc: nats.NATS) -> int:
            return int((await nc.jetstream().stream_info(stream)).state.messages)

        return self.call(count)
