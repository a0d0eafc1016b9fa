"""rrdd worker: the partitions p % N == I of the stream, written as rrdd writes stdin.

    rrdd worker --nats=nats://mq1:4222 --worker=0/2 --rrddir=/var/lib/xymon/rrd \\
        --rrdcached=graphs.example.com:42217

Start: connect, wait for the stream (the relay makes it), take a lease on every owned
partition, make or find each partition's durable pull consumer, then consume. Each
partition is fetched by a task of its own, nats_batch messages at a time, and its
messages go through the daemon's pipeline (Daemon.handle) in order. The batches of all
partitions that are handled meet in one commit (`durable`): when it says the values
are in the files or in rrdcached, every message of those batches is acknowledged. While
it cannot (rrdcached unreachable, a disk full), the messages are kept from redelivery
(in progress) and tried again.

Leases: a KV bucket ``<stream>_leases`` (as many replicas as the stream) whose entries
expire after nats_lease_ttl (its max_age); a worker creates the key of each partition
it owns (create fails if the key exists) and renews it with its revision every third of
the TTL. A key held by someone else is watched for a TTL: renewed meanwhile, the
partition has a live owner and this worker refuses to start; expired, it was a dead
worker's (this one's last run, killed) and is taken. A renewal that finds another
revision means another worker took the partition: this one stops (exit 1), unless the
key holds this very process (a renewal whose answer was lost with a server): then it
goes on with that revision.

Order across a crash: messages delivered to a killed worker and never acknowledged come
back after ack_wait. When a partition shows such messages at start, the worker waits
ack_wait before its first fetch, so they come before newer ones. Messages can also be
lost on their way to a live worker, when the server that sent them or the one it is
connected to goes away: the consumer's sequence (one more per delivery) then skips.
The worker takes none of the messages after the gap, and waits ack_wait before it
fetches that partition again, so the lost ones come back first (nats_gaps). A message
delivered twice is applied twice only in name: the writer drops values not newer than
what their file has (counted as nats_duplicate_values, the messages as
nats_redelivered).

While NATS is away (a server killed, a cluster electing a leader) every call is tried
again, at most RETRY_MAX seconds apart, until it answers or the worker is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TypeVar

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.kv import KeyValue

from rrdd import logsetup, privileges
from rrdd.channel import ChannelParser
from rrdd.daemon import Daemon, load_rras
from rrdd.errors import StartError
from rrdd.events import Counts, Event
from rrdd.loop import SIGNALS, Loop
from rrdd.nats import options
from rrdd.nats.common import (
    TRANSIENT,
    Stream,
    close,
    connect,
    consumer_name,
    find_stream,
    lease_key,
    owner_text,
    partitions_of,
    read_owner,
)
from rrdd.nats.relay import AFTER
from rrdd.settings import Settings
from rrdd.snmpmibs import load_mibs
from rrdd.startup import (
    lost_creates,
    start_creators,
    start_daemon,
    start_metrics,
    start_watcher,
    writer_gauges,
)
from rrdd.writer.rrdwriter import RrdWriter

log = logging.getLogger("rrdd.nats")

FETCH_TIMEOUT = 1.0  # seconds a fetch waits for messages: also how soon a stop is seen
RETRY_MAX = 5.0  # seconds at most between two tries (a cluster elects a leader in 4-9 s)
RELEASE_PATIENCE = 5.0  # seconds a stopping worker spends giving its leases back
REPORT_EVERY = 10.0  # seconds between two lines about calls tried again
T = TypeVar("T")


def durable(writer: RrdWriter) -> bool:
    """The durability point: every value handed to the writer is in its file, or rrdcached
    has answered for it. The one place that decides when a message may be acknowledged."""
    return writer.commit()


def parse_worker(text: str) -> tuple[int, int]:
    i, _, n = text.partition("/")
    return int(i), int(n)


class Leases:
    """This worker's leases on its partitions (see the module's docstring)."""

    def __init__(self, kv: KeyValue, parts: list[int], worker: str, ttl: float):
        self.kv, self.parts, self.worker, self.ttl = kv, parts, worker, ttl
        self.revisions: dict[int, int] = {}
        self.last_ack: dict[int, float] = {}
        self.acked: Counter[int] = Counter()

    def _value(self, p: int) -> bytes:
        return owner_text(self.worker, {"acked": self.acked[p], "last_ack": self.last_ack.get(p)})

    def _mine(self, value: bytes | None) -> bool:
        """The key holds this process: a write whose answer was lost."""
        owner = read_owner(value)
        return (owner.get("worker"), owner.get("host"), owner.get("pid")) == (
            self.worker,
            socket.gethostname(),
            os.getpid(),
        )

    async def take(self, running: Callable[[], bool]) -> None:
        for p in self.parts:
            await self._take(p, running)

    async def _take(self, p: int, running: Callable[[], bool]) -> None:
        key, seen = lease_key(p), None
        while running():
            try:
                self.revisions[p] = await self.kv.create(key, self._value(p))
                return
            except nats.js.errors.KeyWrongLastSequenceError:
                pass
            except TRANSIENT as e:
                log.warning("NATS: cannot take the lease of partition %d now: %r", p, e)
                await asyncio.sleep(1.0)
                continue
            try:
                entry = await self.kv.get(key)
            except nats.js.errors.KeyNotFoundError:
                continue  # expired meanwhile, or deleted
            except TRANSIENT:
                await asyncio.sleep(1.0)
                continue
            if self._mine(entry.value):
                self.revisions[p] = entry.revision or 0
                return
            owner = read_owner(entry.value)
            who = (
                f"worker {owner.get('worker', '?')} on {owner.get('host', '?')} "
                f"(pid {owner.get('pid', '?')})"
            )
            if seen is None:
                seen = entry.revision
                log.info(
                    "Partition %d is leased to %s: waiting up to %g s for the lease to expire "
                    "(a worker that was stopped without releasing it)",
                    *(p, who, self.ttl),
                )
            elif entry.revision != seen:
                raise StartError(
                    f"partition {p} is owned by {who}, which renews its lease: two workers "
                    f"cannot share a partition (is --worker={self.worker} running twice?)"
                )
            await asyncio.sleep(min(1.0, self.ttl / 5))

    async def renew(self) -> None:
        """Raises StartError when another worker took a partition."""
        expired: list[int] = []
        try:
            for p in self.parts:
                if await self._renew(p):
                    expired.append(p)
        finally:
            if expired:
                log.warning(
                    "The leases of partitions %s expired before their renewal (NATS did not "
                    "answer in time); taken again",
                    ",".join(map(str, expired)),
                )

    async def _renew(self, p: int) -> bool:
        """Whether the lease had expired."""
        try:
            self.revisions[p] = await self.kv.update(
                lease_key(p), self._value(p), last=self.revisions[p]
            )
            return False
        except nats.js.errors.KeyWrongLastSequenceError:
            pass
        with contextlib.suppress(nats.js.errors.KeyNotFoundError):
            entry = await self.kv.get(lease_key(p))
            if self._mine(entry.value):
                self.revisions[p] = entry.revision or 0
                return False
        try:  # it expired while this worker was busy: nobody else took it meanwhile?
            self.revisions[p] = await self.kv.create(lease_key(p), self._value(p))
        except nats.js.errors.KeyWrongLastSequenceError:
            raise StartError(
                f"the lease of partition {p} was taken by another worker (this one could "
                "not renew it in time); stopping"
            ) from None
        return True

    async def release(self) -> None:
        """Give the leases back, so that a new worker need not wait for them to expire;
        they expire by themselves when NATS does not answer."""
        for p, revision in self.revisions.items():
            await self.kv.delete(lease_key(p), last=revision)


class Worker:
    def __init__(
        self,
        settings: Settings,
        daemon: Daemon,
        writer: RrdWriter,
        counts: Counts,
        drain: bool,
    ):
        self.settings = settings
        self.daemon = daemon
        self.writer = writer
        self.counts = counts
        self.drain = drain
        self.index, self.count = parse_worker(settings.nats_worker)
        self.stream = Stream.of(settings)
        self.parser = ChannelParser(settings.max_message, counts)
        self.running = True
        self.failed: str | None = None
        self.nc: Client | None = None
        self.leases: Leases | None = None
        self._pending: list[Msg] = []  # handled, awaiting the commit
        self._waiters: list[asyncio.Future[None]] = []
        self._have = asyncio.Event()
        self._delivered: dict[int, int] = {}  # partition -> consumer sequence last taken
        self._said_retry = -REPORT_EVERY

    def stop(self) -> None:
        self.running = False

    async def _retrying(self, what: str, call: Callable[[], Awaitable[T]]) -> T | None:
        """`call()`'s result, tried again while NATS is away; None once stopped."""
        backoff = 1.0
        while self.running:
            try:
                return await call()
            except TRANSIENT as e:
                now = time.monotonic()
                if now - self._said_retry > REPORT_EVERY:  # one line for all the calls
                    self._said_retry = now
                    log.warning("NATS: cannot %s now (%r); trying again", what, e)
            await asyncio.sleep(backoff)
            backoff = min(RETRY_MAX, backoff * 2)
        return None

    # --- start ----------------------------------------------------------------------

    async def main(self) -> None:
        nc = self.nc = await connect(
            self.settings,
            f"rrdd worker {self.settings.nats_worker}",
            retry=True,
            stopped=lambda: not self.running,
        )
        if nc is None:
            return
        js = nc.jetstream(timeout=10)
        try:
            info = await self._wait_for_stream(js)
            if info is None:
                return
            self.stream = Stream.of(self.settings, info)
            partitions = partitions_of(info)
            owned = [p for p in range(partitions) if p % self.count == self.index]
            if not owned:
                raise StartError(
                    f"worker {self.settings.nats_worker} owns no partition: the stream has "
                    f"{partitions}, fewer than the {self.count} workers"
                )
            kv = await self._retrying(
                "open the leases", lambda: self._bucket(js, info.config.num_replicas or 1)
            )
            if kv is None:
                return
            self.leases = Leases(kv, owned, self.settings.nats_worker, self.settings.nats_lease_ttl)
            await self.leases.take(lambda: self.running)
            if not self.running:
                return
            renewing = asyncio.ensure_future(self._renew())
            # At once: a cluster that lost a server takes seconds to make each one.
            bound = await asyncio.gather(
                *(
                    self._retrying(
                        f"bind the consumer of partition {p}",
                        functools.partial(self._consumer, js, p),
                    )
                    for p in owned
                )
            )
            subs = {p: sub for p, sub in zip(owned, bound, strict=True) if sub is not None}
            if len(subs) < len(owned):  # stopped meanwhile
                renewing.cancel()
                return
            await self._wait_for_redeliveries(js, owned)
            log.info(
                "Worker %s consumes partitions %s of stream %s",
                self.settings.nats_worker,
                ",".join(map(str, owned)),
                self.stream.name,
            )
            committing = asyncio.ensure_future(self._committer())
            await asyncio.gather(*(self._consume(js, p, sub) for p, sub in subs.items()))
            await self._commit_now()
            committing.cancel()
            renewing.cancel()
            await asyncio.gather(committing, renewing, return_exceptions=True)
            if self.failed is not None:
                raise StartError(self.failed)
            with contextlib.suppress(*TRANSIENT, nats.errors.Error):
                await asyncio.wait_for(self.leases.release(), RELEASE_PATIENCE)
        finally:
            with contextlib.suppress(nats.errors.Error, asyncio.TimeoutError, OSError):
                await nc.flush(timeout=5)  # the last acks
            await close(nc)

    async def _wait_for_stream(self, js: JetStreamContext) -> api.StreamInfo | None:
        said = False
        while self.running:
            try:
                found = await find_stream(js, self.settings)
            except (TimeoutError, nats.errors.Error) as e:
                log.error("NATS: cannot read stream %s: %s", self.stream.name, e)
                found = None
            if found is not None:
                return found
            if not said:
                said = True
                log.warning(
                    "Stream %s does not exist yet (the relay makes it); waiting", self.stream.name
                )
            await asyncio.sleep(1.0)
        return None

    async def _bucket(self, js: JetStreamContext, replicas: int) -> KeyValue:
        """The leases' bucket, made with as many replicas as the stream: the leases must
        outlive the same servers as the messages."""
        try:
            kv = await js.key_value(self.stream.leases)
        except nats.js.errors.BucketNotFoundError:
            return await js.create_key_value(
                bucket=self.stream.leases,
                ttl=self.settings.nats_lease_ttl,
                history=1,
                replicas=replicas,
                description="rrdd workers' leases on the partitions",
            )
        found = (await kv.status()).stream_info.config.num_replicas or 1
        if found != replicas:
            log.warning(
                "The leases' bucket %s has %d replicas and stream %s %d: the leases are "
                "lost with fewer servers than the messages (stop every worker and delete "
                "the bucket, the next worker makes it again)",
                *(self.stream.leases, found, self.stream.name, replicas),
            )
        return kv

    async def _consumer(self, js: JetStreamContext, p: int) -> JetStreamContext.PullSubscription:
        name = consumer_name(p)
        config = api.ConsumerConfig(
            name=name,
            durable_name=name,
            filter_subject=self.stream.filter(p),
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=self.settings.nats_ack_wait,
            max_ack_pending=max(1024, 4 * self.settings.nats_batch),
            max_deliver=-1,
            deliver_policy=api.DeliverPolicy.ALL,
        )
        try:
            info = await js.consumer_info(self.stream.name, name)
            if info.config.ack_wait != config.ack_wait:
                await js.add_consumer(self.stream.name, config)  # an update on 2.9
        except nats.js.errors.NotFoundError:
            await js.add_consumer(self.stream.name, config)
        return await js.pull_subscribe_bind(durable=name, stream=self.stream.name)

    async def _wait_for_redeliveries(self, js: JetStreamContext, owned: list[int]) -> None:
        unacked = 0
        for p in owned:
            info = await self._retrying(
                f"read consumer {consumer_name(p)}",
                functools.partial(js.consumer_info, self.stream.name, consumer_name(p)),
            )
            if info is None:
                return
            unacked += info.num_ack_pending or 0
        if not unacked:
            return
        wait = self.settings.nats_ack_wait + FETCH_TIMEOUT
        log.info(
            "%d messages were delivered to a worker that did not acknowledge them: waiting "
            "%g s for their redelivery, so that they come before newer ones",
            *(unacked, wait),
        )
        deadline = time.monotonic() + wait
        while self.running and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    async def _renew(self) -> None:
        assert self.leases is not None
        while True:
            await asyncio.sleep(self.settings.nats_lease_ttl / 3)
            try:
                await self.leases.renew()
            except StartError as e:
                self.failed = str(e)
                log.error("%s", e)
                self.stop()
                return
            except (TimeoutError, nats.errors.Error) as e:
                log.warning("NATS: cannot renew the leases now: %s", e)

    # --- consuming ------------------------------------------------------------------

    async def _consume(
        self, js: JetStreamContext, p: int, sub: JetStreamContext.PullSubscription
    ) -> None:
        backoff = 1.0
        while self.running:
            try:
                msgs = await sub.fetch(self.settings.nats_batch, timeout=FETCH_TIMEOUT)
            except TimeoutError:  # nothing came (nats.errors.TimeoutError is one)
                if self.drain and await self._empty(js, p):
                    return
                continue
            except nats.errors.Error as e:
                log.warning("NATS: partition %d: cannot fetch: %r", p, e)
                await asyncio.sleep(backoff)
                backoff = min(RETRY_MAX, backoff * 2)
                continue
            backoff = 1.0
            taken, gap = self._in_order(p, msgs)
            await self.handle(js, taken)
            await self.commit(taken)
            assert self.leases is not None
            self.leases.acked[p] += len(taken)
            self.leases.last_ack[p] = time.time()
            if gap:
                await self._wait_after_gap(p, len(msgs) - len(taken))

    def _in_order(self, p: int, msgs: list[Msg]) -> tuple[list[Msg], bool]:
        """The messages before a gap in the consumer's sequence, and whether there is
        one: messages delivered to this worker were lost on the way."""
        last = self._delivered.get(p)
        for i, msg in enumerate(msgs):
            seq = msg.metadata.sequence.consumer
            if last is not None and seq > last + 1:
                self._delivered[p] = msgs[-1].metadata.sequence.consumer
                return msgs[:i], True
            last = seq
        if last is not None:
            self._delivered[p] = last
        return msgs, False

    async def _wait_after_gap(self, p: int, left: int) -> None:
        self.counts.add(Event.NATS_GAPS)
        wait = self.settings.nats_ack_wait + FETCH_TIMEOUT
        log.warning(
            "Partition %d: messages sent to this worker were lost on the way (a server went "
            "away); %d newer ones are left for later, and the partition waits %g s for the "
            "lost ones to come back first",
            *(p, left, wait),
        )
        deadline = time.monotonic() + wait
        while self.running and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    async def _empty(self, js: JetStreamContext, p: int) -> bool:
        try:
            info = await js.consumer_info(self.stream.name, consumer_name(p))
        except (TimeoutError, nats.errors.Error):
            return False
        return not info.num_pending and not info.num_ack_pending

    async def handle(self, js: JetStreamContext, msgs: list[Msg]) -> None:
        counts = self.counts
        for msg in msgs:
            if msg.headers and AFTER in msg.headers:
                await self._after(js, msg.headers[AFTER])
            again = msg.metadata.num_delivered > 1
            if again:
                counts.add(Event.NATS_REDELIVERED)
                old = counts.get(Event.UPDATES_DROPPED_OLD)
            item = self.parser.item(msg.data)
            counts.add(Event.NATS_MESSAGES)
            if item is not None:
                self.daemon.handle(item)
            if again:
                dropped = counts.get(Event.UPDATES_DROPPED_OLD) - old
                counts.add(Event.NATS_DUPLICATE_VALUES, dropped)

    async def _after(self, js: JetStreamContext, after: str) -> None:
        """A renamehost's copy for the new name: wait until the old name's partition has
        acknowledged its own copy, and so every message of the old name before it."""
        p, _, seq = after.partition(" ")
        if not (p.isdigit() and seq.isdigit()):
            return
        said, started = False, time.monotonic()
        while self.running:
            try:
                info = await js.consumer_info(self.stream.name, consumer_name(int(p)))
                if info.ack_floor is not None and info.ack_floor.stream_seq >= int(seq):
                    return
            except (TimeoutError, nats.errors.Error):
                pass
            if not said and time.monotonic() - started > 10:
                said = True
                log.warning(
                    "A renamehost waits for partition %s to reach it (is its worker up?)", p
                )
            await asyncio.sleep(0.05)

    async def commit(self, msgs: list[Msg]) -> None:
        """Wait until these messages' values are durable and acknowledged."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending += msgs
        self._waiters.append(done)
        self._have.set()
        await done

    async def _committer(self) -> None:
        while True:
            await self._have.wait()
            await asyncio.sleep(0)  # the other partitions' batches join this commit
            await self._commit_now()

    async def _commit_now(self) -> None:
        self._have.clear()
        msgs, waiters = self._pending, self._waiters
        self._pending, self._waiters = [], []
        backoff = 0.5
        while not durable(self.writer):
            self.counts.add(Event.NATS_COMMIT_RETRIES)
            for msg in msgs:
                with contextlib.suppress(nats.errors.Error):
                    await msg.in_progress()  # not redelivered while rrdd keeps its values
            await asyncio.sleep(backoff)
            backoff = min(RETRY_MAX, backoff * 2)
        for msg in msgs:
            with contextlib.suppress(nats.errors.Error):
                await msg.ack()
        self.counts.add(Event.NATS_ACKED, len(msgs))
        self.writer.sync()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


def run_worker(args: argparse.Namespace) -> int:
    settings = options.read_settings(args, rrddir_needed=True)
    rras = load_rras(settings)
    load_mibs(settings.snmpmibs)
    logsetup.configure(settings.log, settings.debug)
    counts = Counts()
    creators = start_creators(settings, counts)
    shared = start_metrics(settings, counts)
    metrics = shared.metrics if shared else None

    def rebuild() -> Settings:
        return options.read_settings(args, rrddir_needed=True)

    daemon, writer, processor = start_daemon(settings, rras, rebuild, counts, metrics, creators)
    privileges.warn_if_root(settings.user)
    watcher = start_watcher(settings, (), daemon.request_reload)
    if shared is not None:
        writer_gauges(shared.metrics, writer, lambda: daemon.last_message)
        shared.start()
    worker = Worker(settings, daemon, writer, counts, args.drain)
    loop = Loop()

    def on_signal(signum: signal.Signals) -> None:
        if signum == signal.SIGHUP:
            logsetup.reopen()
            daemon.request_reload()
        elif worker.running:
            log.info("Got signal %s, stopping", signum.name)
            worker.stop()

    loop.on_signals(on_signal, SIGNALS)
    daemon.plug(loop)
    try:
        loop.run(worker.main())
    finally:
        daemon.shutdown()
        loop.close()
        watcher.stop()
        if processor:
            processor.close()
        if shared:
            shared.close()
    return lost_creates(writer)
