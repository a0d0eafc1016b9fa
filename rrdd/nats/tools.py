"""rrdd top, rrdd check and rrdd send: the stream seen and fed from outside xymond.

`top` (as gearman_top) shows one row per partition: messages waiting (backlog), delivered
and not yet acknowledged, redelivered, the worker holding its lease and how long ago it
last acknowledged a batch, and messages acknowledged per second. `check` (as
check_gearman) is a Nagios/Xymon plugin: UNKNOWN (3) when the stream cannot be read,
CRITICAL (2) when a partition with a backlog has no worker or none that acknowledged
within --stale seconds, or the backlog reaches --critical; WARNING (1) from --warning.
`send` (as send_gearman) publishes channel messages, or Xymon client lines
``status HOST.TEST COLOR text`` / ``data HOST.TEST text`` turned into channel messages,
to their host's partition, and waits for the stream to store each.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext

from rrdd.channel import TERMINATOR, ChannelParser, route
from rrdd.errors import ConfigError, StartError
from rrdd.nats import options
from rrdd.nats.common import (
    Stream,
    connect,
    consumer_name,
    host_token,
    lease_key,
    partition_of,
    read_owner,
    stream_partitions,
)
from rrdd.settings import Settings

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")


@dataclass
class Row:
    partition: int
    backlog: int = 0  # stored, not yet delivered
    unacked: int = 0
    redelivered: int = 0
    acked_seq: int = 0  # the consumer's ack floor (consumer sequence)
    worker: str = ""
    last_ack: float | None = None  # time of the owner's last acknowledgement
    rate: float | None = None


async def snapshot(nc: Client, settings: Settings) -> list[Row]:
    """A row per partition; raises StartError when there is no stream."""
    js = nc.jetstream(timeout=5)
    partitions = await stream_partitions(js, settings)
    if partitions is None:
        raise StartError(f"stream {settings.nats_stream} does not exist (the relay makes it)")
    stream = Stream.of(settings)
    owners = await _owners(js, stream, partitions)
    rows = []
    for p in range(partitions):
        row = Row(p)
        try:
            info = await js.consumer_info(stream.name, consumer_name(p))
        except nats.js.errors.NotFoundError:  # no worker ever came: all of it waits
            row.backlog = await _waiting(js, stream, p)
        else:
            row.backlog = info.num_pending or 0
            row.unacked = info.num_ack_pending or 0
            row.redelivered = info.num_redelivered or 0
            row.acked_seq = info.ack_floor.consumer_seq if info.ack_floor else 0
        owner = owners.get(p, {})
        row.worker = str(owner.get("worker", ""))
        if owner:
            row.worker += f"@{owner.get('host', '?')}"
        last = owner.get("last_ack")
        row.last_ack = float(last) if isinstance(last, int | float) else None
        rows.append(row)
    return rows


async def _owners(js: JetStreamContext, stream: Stream, partitions: int) -> dict[int, Any]:
    try:
        kv = await js.key_value(stream.leases)
    except nats.js.errors.BucketNotFoundError:
        return {}
    found = {}
    for p in range(partitions):
        with contextlib.suppress(nats.js.errors.KeyNotFoundError):
            found[p] = read_owner((await kv.get(lease_key(p))).value)
    return found


async def _waiting(js: JetStreamContext, stream: Stream, p: int) -> int:
    """Messages of a partition that has no consumer yet."""
    info = await js.stream_info(stream.name, subjects_filter=stream.filter(p))
    return sum((info.state.subjects or {}).values())


def table(rows: list[Row], now: float) -> str:
    lines = [
        f"{'part':>4} {'backlog':>8} {'unacked':>8} {'redeliv':>8} {'msg/s':>8} "
        f"{'last ack':>9}  worker"
    ]
    for r in rows:
        age = "-" if r.last_ack is None else f"{now - r.last_ack:.0f}s ago"
        rate = "-" if r.rate is None else f"{r.rate:.0f}"
        lines.append(
            f"{r.partition:>4} {r.backlog:>8} {r.unacked:>8} {r.redelivered:>8} {rate:>8} "
            f"{age:>9}  {r.worker or '(none)'}"
        )
    total = sum(r.backlog for r in rows), sum(r.unacked for r in rows)
    lines.append(f"{'all':>4} {total[0]:>8} {total[1]:>8}")
    return "\n".join(lines)


async def _connect(args: argparse.Namespace) -> tuple[Settings, Client]:
    settings = options.read_settings(args, rrddir_needed=False)
    nc = await connect(settings, "rrdd tools")
    assert nc is not None
    return settings, nc


async def _top(args: argparse.Namespace) -> int:
    settings, nc = await _connect(args)
    try:
        before = await snapshot(nc, settings)
        started = time.monotonic()
        for rounds in itertools.count():
            await asyncio.sleep(args.interval)
            rows = await snapshot(nc, settings)
            elapsed, started = time.monotonic() - started, time.monotonic()
            for row, old in zip(rows, before, strict=False):
                row.rate = max(0, row.acked_seq - old.acked_seq) / elapsed
            before = rows
            text = table(rows, time.time())
            if args.once:
                print(text)
                return 0
            clear = "\033[H\033[2J" if sys.stdout.isatty() else ("\n" if rounds else "")
            print(f"{clear}rrdd top: stream {settings.nats_stream} at {settings.nats}\n{text}")
        return 0
    finally:
        await nc.close()


def top(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_top(args))
    except KeyboardInterrupt:
        return 0


async def _check(args: argparse.Namespace) -> tuple[int, str]:
    settings, nc = await _connect(args)
    try:
        rows = await snapshot(nc, settings)
    finally:
        await nc.close()
    now = time.time()
    backlog = sum(r.backlog + r.unacked for r in rows)
    stalled = [
        r.partition
        for r in rows
        if (r.backlog or r.unacked)
        and (not r.worker or r.last_ack is None or now - r.last_ack > args.stale)
    ]
    unowned = sum(1 for r in rows if not r.worker)
    perf = (
        f"backlog={backlog};{args.warning};{args.critical};0 "
        f"unacked={sum(r.unacked for r in rows)};;;0 "
        f"partitions_without_worker={unowned};;;0;{len(rows)} stalled={len(stalled)};;;0"
    )
    if stalled:
        shown = ",".join(map(str, stalled[:10])) + ("..." if len(stalled) > 10 else "")
        return (
            CRITICAL,
            f"{len(stalled)} partitions with a backlog have no live worker ({shown})|{perf}",
        )
    if backlog >= args.critical:
        return CRITICAL, f"backlog {backlog} messages|{perf}"
    if backlog >= args.warning:
        return WARNING, f"backlog {backlog} messages|{perf}"
    return (
        OK,
        f"backlog {backlog} messages, {len(rows) - unowned} of {len(rows)} partitions "
        f"leased|{perf}",
    )


def check(args: argparse.Namespace) -> int:
    try:
        state, text = asyncio.run(asyncio.wait_for(_check(args), args.timeout))
    except (StartError, ConfigError, nats.errors.Error, OSError) as e:
        state, text = UNKNOWN, str(e)
    except TimeoutError:
        state, text = UNKNOWN, f"no answer from NATS in {args.timeout:g} s"
    print(f"RRDD {STATES[state]} - {text}")
    return state


def client_line(line: str, now: float, seq: int) -> bytes | None:
    """A Xymon client line, "status HOST.TEST COLOR text" or "data HOST.TEST text", as
    the channel message xymond would make of it; None if it is neither."""
    kind, _, rest = line.partition(" ")
    target, _, text = rest.partition(" ")
    host, dot, test = target.rpartition(".")
    kind = kind.split("+", 1)[0]  # status+30m: the lifetime is xymond's business
    if kind not in ("status", "data") or not dot or not host or not test:
        return None
    host = host.replace(",", ".")
    ts = f"{now:.6f}"
    if kind == "data":
        header = f"@@data#{seq}/{host}|{ts}|rrdd-send||{host}|{test}||"
        return f"{header}\n{line}".encode()
    color = text.split(" ", 1)[0]
    t = int(now)
    header = (
        f"@@status#{seq}/{host}|{ts}|rrdd-send||{host}|{test}|{t + 1800}|{color}||{color}|"
        f"{t}|0||0||{t}|||0|"
    )
    return f"{header}\n{line}".encode()


def messages(texts: list[str], now: float) -> list[bytes]:
    """Channel messages from the command line's arguments or from stdin's text."""
    text = "\n".join(texts)
    if text.lstrip().startswith("@@"):
        parser = ChannelParser()
        framed = text.encode()
        if not framed.endswith(TERMINATOR):
            framed += b"\n@@\n" if not framed.endswith(b"\n@@") else b"\n"
        return [bytes(b) for b in parser.blocks(framed)]
    found = []
    for seq, line in enumerate(filter(None, map(str.strip, text.split("\n"))), 1):
        message = client_line(line, now, seq)
        if message is None:
            raise ConfigError(f"not a message: {line[:100]!r} (status HOST.TEST COLOR text)")
        found.append(message)
    return found


async def _send(args: argparse.Namespace) -> int:
    texts = args.message or [sys.stdin.read()]
    blocks = messages(texts, time.time())
    settings, nc = await _connect(args)
    try:
        js = nc.jetstream(timeout=5)
        partitions = await stream_partitions(js, settings)
        if partitions is None:
            raise StartError(f"stream {settings.nats_stream} does not exist (the relay makes it)")
        stream = Stream.of(settings)
        sent = 0
        for block in blocks:
            kind, hosts = route(block)
            if not hosts:
                print(f"rrdd send: no host in {bytes(block[:100])!r}", file=sys.stderr)
                continue
            for host in dict.fromkeys(hosts):
                token = host_token(host)
                subject = stream.subject(partition_of(token, partitions), token)
                await js.publish(
                    subject,
                    block,
                    headers={"Nats-Msg-Id": f"send.{os.getpid()}.{time.time_ns()}.{sent}"},
                )
            sent += 1
        print(f"rrdd send: {sent} messages stored in stream {settings.nats_stream}")
        return 0 if sent == len(blocks) else 1
    finally:
        await nc.close()


def send(args: argparse.Namespace) -> int:
    return asyncio.run(_send(args))
