"""Parse-only throughput on two host mixes: channel framing + dispatch + parsers.

    .venv/bin/python bench/parse.py [HOSTS]

The mixes are feed.py's: the perf note's reference mix of 15 messages per host (its
target T1 is defined on it) and the fleet's real Linux client mix of 11, which has
ifstat and fewer small network tests, so it costs more per message.

No RRD I/O: the updates go to a writer that drops them. The stream is fed in 64 KiB
pieces, as the daemon reads it. The baseline, run in the same process on the same
bytes, is the least any reader must do: split the stream at the message terminator and
split each header at "|". Target: >= 150k messages/s on the reference mix (the perf
note's T1: 0.8 of the 182k its reference parser, L, made of that mix; L is timed here
too).

The same is then timed with --workers=2, the whole daemon reading the stream from a
file: the router in this process and two workers forked from it, each parsing its
hosts' messages into a writer that drops them. That figure is also given against L:
150k was 0.82 of L on the perf note's machine, and on a shared machine L itself moves
by half between runs. Last, the channel reader alone and each test's parser alone are
timed, to show where the time goes.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from common import run_workers
from feed import MIX, REFERENCE_ENV, REFERENCE_MIX, fleet_stream
from reference import reference_pass

from rrdd.channel import ChannelParser, Message
from rrdd.daemon import Daemon, make_context, make_routes
from rrdd.dispatch import Dispatcher
from rrdd.events import Counts
from rrdd.parsers import load_builtins
from rrdd.settings import Settings, load_settings
from rrdd.writer.memory import MemoryWriter

READ_SIZE = 1 << 16  # what the daemon reads from its input at a time


class NullWriter(MemoryWriter):
    def write(self, *args: object) -> None:
        pass


MIXES = (  # name, mix, the settings it needs
    ("reference mix (perf note)", REFERENCE_MIX, REFERENCE_ENV),
    ("fleet mix (Linux clients)", MIX, {}),
)


def rrdd_pass(data: bytes, env: dict[str, str]) -> int:
    settings = load_settings({}, {"XYMONRRDS": "/nonexistent", **env})
    writer = NullWriter()
    stats = Counts()
    ctx = make_context(settings, writer)
    dispatcher = Dispatcher(make_routes(settings), load_builtins(), ctx, writer, stats)
    n = 0
    channel = ChannelParser(counts=stats)
    for at in range(0, len(data), READ_SIZE):
        for item in channel.feed(data[at : at + READ_SIZE]):
            dispatcher.handle(item)  # type: ignore[arg-type]
            n += 1
    return n


def parse_only(
    settings: Settings, rras: object, rebuild: object, channel: int, reports: int
) -> int:
    """A worker's life for workers_pass: rrdd's daemon over a writer that drops updates."""
    stats = Counts()
    daemon = Daemon(settings, NullWriter(), stats)  # type: ignore[arg-type]
    os.write(reports, b'{"ready": true}\n')
    daemon.run(channel, signals=())
    os.write(reports, json.dumps({"stats": stats.totals()}).encode() + b"\n")
    return 0


def workers_pass(data: bytes, env: dict[str, str], workers: int = 2) -> tuple[int, float]:
    """Messages parsed and seconds taken by rrdd --workers, from the first read to the
    last worker's exit."""
    with tempfile.NamedTemporaryFile() as stream:
        stream.write(data)
        stream.flush()
        env = {"XYMONRRDS": "/nonexistent", **env}
        timer, counts = run_workers(Path(stream.name), workers, {}, env, life=parse_only)
    return counts["messages_status"] + counts["messages_data"], timer.wall


def baseline_pass(data: bytes) -> int:
    n = 0
    for block in data.split(b"\n@@\n"):
        header, _, _ = block.partition(b"\n")
        if header.split(b"|"):
            n += 1
    return n


def best(run: Callable[[], int], rounds: int = 3) -> tuple[int, float]:
    """What `run` returns (a message count) and its best time of `rounds`."""
    times = []
    n = 0
    for _ in range(rounds):
        started = time.perf_counter()
        n = run()
        times.append(time.perf_counter() - started)
    return n, min(times)


def race(data: bytes, env: dict[str, str], rounds: int = 5) -> dict[str, float]:
    """Messages per second of rrdd and of each baseline, best of `rounds`, the passes
    taking turns so that a slow minute of the shared machine hits them alike."""
    passes = {
        "rrdd": lambda: rrdd_pass(data, env),
        "framing": lambda: baseline_pass(data),
        "reference": lambda: reference_pass(data),
    }
    times: dict[str, list[float]] = defaultdict(list)
    counts = {}
    for _ in range(rounds):
        for name, run in passes.items():
            started = time.perf_counter()
            counts[name] = run()
            times[name].append(time.perf_counter() - started)
    return {name: counts[name] / min(t) for name, t in times.items()}


def where_the_time_goes(data: bytes, env: dict[str, str]) -> None:
    """The channel reader alone, then each test's parser alone, in us per message."""
    settings = load_settings({}, {"XYMONRRDS": "/nonexistent", **env})
    ctx = make_context(settings, NullWriter())
    routes, handlers = make_routes(settings), load_builtins()
    messages: list[Message] = []

    def read() -> int:
        channel = ChannelParser()
        messages[:] = [
            m
            for at in range(0, len(data), READ_SIZE)
            for m in channel.feed(data[at : at + READ_SIZE])
            if isinstance(m, Message)
        ]
        return len(messages)

    n, t = best(read)
    print(f"  where the time goes, us per message: channel reader {t / n * 1e6:.1f}; parsers:")
    by_test: dict[str, list[Message]] = defaultdict(list)
    for m in messages:
        by_test[m.testname].append(m)
    for test, group in by_test.items():
        handler = handlers[routes.handler_id(test)]
        times = []
        for _ in range(3):
            started = time.perf_counter()
            for m in group:
                list(handler.parse(m, ctx))
            times.append(time.perf_counter() - started)
        print(f"    {test:10s} {min(times) / len(group) * 1e6:6.1f}")


def main() -> None:
    hosts = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    for name, mix, env in MIXES:
        data = fleet_stream(hosts, 1, mix=mix)
        rate = race(data, env)
        print(f"parse only, {name}: {hosts} hosts x {len(mix)} messages ({len(data)} bytes)")
        print(f"  rrdd:      {rate['rrdd']:10.0f} msg/s  ({1e6 / rate['rrdd']:.1f} us/msg)")
        print(f"  framing:   {rate['framing']:10.0f} msg/s  (split at the terminator and at '|')")
        if mix is REFERENCE_MIX:
            print(f"  reference: {rate['reference']:10.0f} msg/s  (L: the perf note's parser)")
            t1 = rate["rrdd"] / rate["reference"]
            print(f"  T1 rrdd / L: {t1:.2f} (target >= 0.8)")
        print(f"  rrdd / framing: {rate['rrdd'] / rate['framing']:.3f}; ", end="")
        print(f"against 150k msg/s: {rate['rrdd'] / 150000:.2f}x")
        runs = [workers_pass(data, env) for _ in range(5)]
        n, seconds = runs[0][0], min(t for _, t in runs)
        assert all(count == n == len(mix) * hosts for count, _ in runs), runs
        print(f"  rrdd --workers=2: {n / seconds:10.0f} msg/s (best of 5), ", end="")
        print(f"{n / seconds / rate['rrdd']:.2f}x one process; against 150k msg/s: ", end="")
        print(f"{n / seconds / 150000:.2f}x")
        if mix is REFERENCE_MIX:
            ratio = n / seconds / rate["reference"]
            print(f"  rrdd --workers=2 / L: {ratio:.2f} (150k is 0.82 of the perf note's L)")
        where_the_time_goes(data, env)


if __name__ == "__main__":
    main()
