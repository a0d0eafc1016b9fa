"""rrdd top, rrdd check and rrdd send: the stream seen and fed from outside xymond.

`top` (as gearman_top) shows which servers hold the stream (its leader, each replica
up to date or behind, and when it was last heard from), then one row per partition:
messages waiting (backlog), delivered and not yet acknowledged, redelivered, the worker
holding its lease and how long ago it last acknowledged a batch, and messages
acknowledged per second. It carries on, saying so, while NATS does not answer. `check`
(as check_gearman) is a Nagios/Xymon plugin: UNKNOWN (3) when the stream cannot be
read, CRITICAL (2) when a partition with a backlog has no worker or none that
acknowledged within --stale seconds, or the backlog reaches --critical; WARNING (1)
from --warning, when a replica of the stream is not up to date (a server is down), or
on a standby site when the mirror has not heard from the main site for --stale seconds.
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
from nats.js import JetStreamContext, api

from rrdd.channel import TERMINATOR, ChannelParser, route
from rrdd.errors import ConfigError, StartError
from rrdd.nats import options
from rrdd.nats.common import (
    TRANSIENT,
    Stream,
    close,
    connect,
    consumer_name,
    describe_error,
    find_stream,
    host_token,
    lease_key,
    partition_of,
    partitions_of,
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


@dataclass
class Server:
    name: str
    state: str  # "leader", "current", "behind" or "offline"
    lag: int = 0  # operations behind the leader
    seen: float | None = None  # seconds since the leader last heard from it

    def __str__(self) -> str:
        text = f"{self.name} {self.state}"
        if self.state in ("behind", "offline"):
            text += f" (lag {self.lag}" if self.lag else " ("
            text += (", " if self.lag else "") + (
                f"last heard {self.seen:.0f}s ago)" if self.seen is not None else "never heard)"
            )
        return text


def servers_of(info: api.StreamInfo) -> list[Server]:
    """The servers holding the stream, as its leader sees them: empty without a cluster."""
    cluster = info.cluster
    if cluster is None or not cluster.leader:
        return []
    found = [Server(cluster.leader, "leader")]
    for peer in cluster.replicas or []:
        state = "offline" if peer.offline else "current" if peer.current else "behind"
        seen = max(0, peer.active) / 1e9 if peer.active is not None else None
        found.append(Server(peer.name or "?", state, peer.lag or 0, seen))
    return found


def mirror_text(info: api.StreamInfo) -> str:
    """How a standby site's stream follows the main site's copy."""
    mirror = info.mirror
    if mirror is None:
        return ""
    external = info.config.mirror.external if info.config.mirror else None
    where = f" of domain {external.api.split('.')[1]}" if external and external.api else ""
    seen = f"{max(0, mirror.active) / 1e9:.0f}s ago" if mirror.active is not None else "never"
    error = f", {mirror.error.get('description', mirror.error)}" if mirror.error else ""
    return f"mirror of {mirror.name}{where}: {mirror.lag or 0} behind, last heard {seen}{error}"


async def snapshot(nc: Client, settings: Settings) -> tuple[api.StreamInfo, list[Row]]:
    """The stream and a row per partition; raises StartError when there is no stream."""
    js = nc.jetstream(timeout=5)
    info = await find_stream(js, settings)
    if info is None:
        raise StartError(f"stream {settings.nats_stream} does not exist (the relay makes it)")
    partitions = partitions_of(info)
    stream = Stream.of(settings, info)
    owners = await _owners(js, stream, partitions)
    rows = []
    for p in range(partitions):
        row = Row(p)
        try:
            consumer = await js.consumer_info(stream.name, consumer_name(p))
        except nats.js.errors.NotFoundError:  # no worker ever came: all of it waits
            row.backlog = await _waiting(js, stream, p)
        else:
            row.backlog = consumer.num_pending or 0
            row.unacked = consumer.num_ack_pending or 0
            row.redelivered = consumer.num_redelivered or 0
            row.acked_seq = consumer.ack_floor.consumer_seq if consumer.ack_floor else 0
        owner = owners.get(p, {})
        row.worker = str(owner.get("worker", ""))
        if owner:
            row.worker += f"@{owner.get('host', '?')}"
        last = owner.get("last_ack")
        row.last_ack = float(last) if isinstance(last, int | float) else None
        rows.append(row)
    return info, rows


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
    return settings, await _connection(settings)


def heading(settings: Settings, nc: Client, info: api.StreamInfo) -> str:
    """Where top is connected, and which servers hold the stream."""
    url = nc.connected_url.netloc if nc.connected_url else "?"
    held = servers_of(info)
    lines = [
        f"rrdd top: stream {settings.nats_stream}, {info.config.num_replicas or 1} "
        f"replicas, via {url} of {settings.nats}",
        "servers: " + (", ".join(map(str, held)) if held else "one server, no cluster"),
    ]
    if mirror_text(info):
        lines.append(mirror_text(info))
    return "\n".join(lines)


async def _connection(settings: Settings) -> Client:
    nc = await connect(settings, "rrdd tools")
    assert nc is not None  # a tool's connection is made or raises
    return nc


async def _top(args: argparse.Namespace) -> int:
    settings, nc = await _connect(args)
    try:
        before: list[Row] = []
        started = time.monotonic()
        for rounds in itertools.count():
            if rounds:
                await asyncio.sleep(args.interval)
            try:
                if nc.is_closed:  # its server went away: another one of the list
                    nc = await _connection(settings)
                info, rows = await snapshot(nc, settings)
            except (*TRANSIENT, nats.errors.ConnectionClosedError, StartError) as e:
                text = f"rrdd top: {describe_error(e)}; trying again"
                before = []
                if args.once:
                    print(text, file=sys.stderr)
                    return 1
            else:
                elapsed, started = time.monotonic() - started, time.monotonic()
                for row, old in zip(rows, before, strict=False):
                    row.rate = max(0, row.acked_seq - old.acked_seq) / elapsed
                if not before:
                    before = rows
                    continue  # the rates need two rounds
                before = rows
                text = f"{heading(settings, nc, info)}\n{table(rows, time.time())}"
            if args.once:
                print(text)
                return 0
            clear = "\033[H\033[2J" if sys.stdout.isatty() else "\n"
            print(f"{clear}{text}")
        return 0
    finally:
        await close(nc)


def top(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_top(args))
    except KeyboardInterrupt:
        return 0


async def _check(args: argparse.Namespace) -> tuple[int, str]:
    settings, nc = await _connect(args)
    try:
        info, rows = await snapshot(nc, settings)
    finally:
        await close(nc)
    held = servers_of(info)
    ailing = [str(s) for s in held if s.state in ("behind", "offline")]
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
    if held:
        perf += f" replicas_current={len(held) - len(ailing)};;;0;{len(held)}"
    mirror = info.mirror
    away = False  # a standby site's mirror has not heard from the main site for long
    if mirror is not None:
        perf += f" mirror_lag={mirror.lag or 0};;;0"
        away = mirror.active is None or mirror.active / 1e9 > args.stale
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
    if ailing:
        return WARNING, f"stream replicas not up to date: {', '.join(ailing)}|{perf}"
    if away:
        return WARNING, f"{mirror_text(info)}|{perf}"
    return (
        OK,
        f"backlog {backlog} messages, {len(rows) - unowned} of {len(rows)} partitions "
        f"leased|{perf}",
    )


def check(args: argparse.Namespace) -> int:
    try:
        state, text = asyncio.run(asyncio.wait_for(_check(args), args.timeout))
    except TimeoutError:  # an OSError too: first
        state, text = UNKNOWN, f"no answer from NATS in {args.timeout:g} s"
    except (StartError, ConfigError, nats.errors.Error, OSError) as e:
        state, text = UNKNOWN, str(e) or repr(e)
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
        await close(nc)


def send(args: argparse.Namespace) -> int:
    return asyncio.run(_send(args))
