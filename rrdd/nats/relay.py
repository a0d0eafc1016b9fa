"""rrdd relay: the channel on stdin, published to the JetStream partition of each host.

    xymond_channel --channel=status rrdd relay --nats=nats://mq1:4222,nats://mq2:4222

It cuts the channel with rrdd's own reader and sends each message unchanged, as the
payload of ``<subject>.part.<p>.<host token>``, with a ``Nats-Msg-Id`` the server uses to
drop a copy published twice within its duplicate window. Host control messages
(drophost, droptest, renamehost, renametest) go to their host's partition, after that
host's earlier messages; a renamehost goes to the partitions of both names. The others
are the relay's own: logrotate reopens its log, shutdown stops it, reload and idle say
nothing to it. With nats_copy every publish has a twin in the copy for a second site
(common.py), published right after it, id and all with a "c" added.

At most nats_window publishes wait for their ack at once. When one is refused (the
stream is full, no stream answers: its leader is being elected), or none comes within
ACK_TIMEOUT, or the connection drops, every message not yet acknowledged goes, in
order, to the spool on disk (spool.py), the refused one included, and so does
everything read after it while the spool is not empty: the relay never stops reading
the channel, since xymond would drop what its reader does not take. The spool is
published again, in order and with the same ids, when the server takes messages again
(tried every RETRY_MAX seconds at most). A message that does not fit in the spool is
counted (relay_spool_overflow) and logged once a minute.

Order: a host's messages reach its partition in the order read. After a lost
connection that holds: the server stored a prefix of what it received, and the copies
of that prefix sent again are dropped as duplicates. A publish lost with a stream
leader that was killed gets no answer at all; what the relay sends after it could be
stored by the next leader before the lost one is sent again. So once a publish has
waited STALL seconds, which is less than a cluster takes to elect a new leader (4 s at
least), new messages queue behind it in the spool. A stream that refuses a message
because it is full may take the next one if a worker freed room meanwhile; then those
two are swapped in the stream. The relay counts it (relay_swapped) and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from rrdd import logsetup
from rrdd.channel import CONTROLS, ChannelParser, route
from rrdd.daemon import reopen_logs
from rrdd.errors import ConfigError, StartError
from rrdd.events import Counts, Event
from rrdd.flush import FlushSocket
from rrdd.loop import SIGNALS, Loop
from rrdd.nats.common import Stream, close, connect, host_token, make_stream, partition_of
from rrdd.nats.spool import Position, Record, Spool
from rrdd.settings import Settings

log = logging.getLogger("rrdd.nats")

# A renamehost whose names live in two partitions goes to the old name's first; the copy
# for the new name says where that one is stored (AFTER: "<partition> <stream seq>"), and
# the worker of the new name applies it only once that partition has acknowledged it.
FIRST, SECOND, AFTER = ".a", ".b", "Rrdd-After"
SUBJECTS = 100_000  # hosts whose subject is kept
CONNECT_GRACE = 2.0  # seconds the relay waits for NATS before it reads (and spools)
ACK_TIMEOUT = 5.0  # seconds a publish may wait for its ack before it is sent again
STALL = 1.0  # seconds a publish may wait before new messages queue behind it (the docstring)
RETRY_MAX = 5.0  # seconds at most between two tries of the spool while NATS refuses it
REPORT_EVERY = 60.0  # seconds between two log lines about a full spool
STOP_PATIENCE = 5.0  # seconds the relay waits at the end for the acks of what it sent


@dataclass(slots=True)
class Sent:
    record: Record
    at: float
    spooled: bool  # it is in the spool already (a replay), else only here


class Relay:
    def __init__(self, settings: Settings, counts: Counts, spool: Spool):
        self.settings = settings
        self.counts = counts
        self.stream = Stream.of(settings)
        self.copy = self.stream.copy if settings.nats_copy else None
        self.partitions = settings.nats_partitions
        self.spool = spool
        self.channel = ChannelParser(settings.max_message, counts)
        self.nc: Client | None = None
        self.inbox = ""
        self.sent: dict[int, Sent] = {}  # reply number -> a publish awaiting its ack
        self.number = 0
        self.spooling = bool(spool)  # new messages go to the spool, behind what it holds
        self.failures = 0  # publishes refused or timed out: a change says one failed
        self.failing = False  # the last answer was a failure (the first of a row is logged)
        self.running = True
        self.ready = False  # connected, and the stream checked
        self.fatal: ConfigError | None = None
        self._prefix = f"{os.getpid():x}.{time.time_ns():x}."
        self._subjects: dict[bytes, tuple[int, str, str | None]] = {}  # host -> _subject()
        self._ids = 0
        self._space = asyncio.Event()  # a publish was answered
        self._wake = asyncio.Event()  # the replay has something to do
        self.readable = asyncio.Event()  # stdin has data (or the relay must stop)
        self._overflow_said = 0.0
        self.gave_up = False  # stopping, and no longer waiting for NATS
        self._refused: dict[str, str] = {}  # subject -> the id of a message it refused
        self.after: dict[str, str] = {}  # a renamehost's first copy -> its AFTER header

    # --- reading the channel --------------------------------------------------------

    def records(self, block: bytes | bytearray) -> list[Record]:
        """The publishes one channel message makes: none, one, or two (a renamehost)."""
        kind, hosts = route(block)
        if not kind or not hosts:
            if kind in CONTROLS and CONTROLS[kind].scope != "host":
                self._own_control(kind)
            else:
                self.counts.add(Event.RELAY_UNROUTABLE)
                log.warning("Message without a host, not relayed: %.200r", bytes(block[:200]))
            return []
        self._ids += 1
        payload, name = bytes(block), f"{self._prefix}{self._ids}"
        if len(hosts) == 1:
            _, subject, copied = self._subject(hosts[0])
            if copied is None:
                return [Record(name, subject, payload)]
            return [Record(name, subject, payload), Record(f"{name}c", copied, payload)]
        places: dict[int, tuple[str, str | None]] = {}
        for host in hosts:  # renamehost: both names, in two partitions or one
            p, subject, copied = self._subject(host)
            places.setdefault(p, (subject, copied))
        found = self._records(name, [subject for subject, _ in places.values()], payload)
        if self.copy is not None:
            copies = [copied or "" for _, copied in places.values()]
            found += self._records(f"{name}c", copies, payload)
        return found

    @staticmethod
    def _records(name: str, subjects: list[str], payload: bytes) -> list[Record]:
        if len(subjects) == 1:
            return [Record(name, subjects[0], payload)]
        return [
            Record(f"{name}{suffix}", subject, payload)
            for suffix, subject in zip((FIRST, SECOND), subjects, strict=True)
        ]

    def _subject(self, host: bytes) -> tuple[int, str, str | None]:
        """A host's partition, subject and subject in the copy (nats_copy), worked out
        once (the same hosts come every few minutes), for at most SUBJECTS hosts at a
        time."""
        found = self._subjects.get(host)
        if found is None:
            if len(self._subjects) >= SUBJECTS:
                self._subjects.clear()
            token = host_token(host)
            p = partition_of(token, self.partitions)
            copied = self.copy.subject(p, token) if self.copy is not None else None
            found = self._subjects[host] = (p, self.stream.subject(p, token), copied)
        return found

    def _own_control(self, kind: str) -> None:
        self.counts.add(Event.CONTROLS, 1, kind)
        if kind == "logrotate":
            reopen_logs(self.settings.logfile)
        elif kind == "shutdown":
            self.stop()

    def stop(self) -> None:
        self.running = False
        self.readable.set()
        self._space.set()

    async def read(self, fd: int, loop: Loop) -> None:
        readable = self.readable
        os.set_blocking(fd, False)  # the callback fires once per readiness, not per read
        loop.reader(fd, readable.set)
        try:
            while self.running:
                await readable.wait()
                readable.clear()
                if not self.running:
                    break
                try:
                    data = os.read(fd, 1 << 16)
                except BlockingIOError:  # readiness seen before the last read took it all
                    continue
                if not data:
                    self.channel.close()
                    break
                for block in self.channel.blocks(data):
                    for record in self.records(block):
                        await self.submit(record)
                    if not self.running:
                        break
        finally:
            loop.forget(fd)

    async def submit(self, record: Record) -> None:
        self.counts.add(Event.RELAY_MESSAGES)
        while not self.spooling and len(self.sent) >= self.settings.nats_window:
            self._space.clear()
            await self._space.wait()
        if self.spooling or not self._connected():
            self._to_spool(record)
            return
        await self._publish(record, spooled=False)
        if record.id.endswith(SECOND) and self.spooling:
            self._wake.set()

    def _connected(self) -> bool:
        return self.ready and self.nc is not None and self.nc.is_connected

    def _to_spool(self, record: Record) -> None:
        self._start_spooling()
        self._keep(record)

    def _start_spooling(self) -> None:
        """New messages go to the spool from now on, behind every publish not yet
        answered: those go first, in order, so that the spool keeps the channel's order
        whatever their answers are (one answered later is dropped as a duplicate when
        the spool sends it again)."""
        if not self.spooling:
            self.spooling = True
            log.warning("NATS does not take messages now: spooling to %s", self.spool.directory)
        for sent in self.sent.values():
            if not sent.spooled:
                sent.spooled = True
                self._keep(sent.record)
        self._wake.set()

    def _keep(self, record: Record) -> None:
        if self.spool.append(record):
            self.counts.add(Event.RELAY_SPOOLED)
            self._wake.set()
            return
        self.counts.add(Event.RELAY_SPOOL_OVERFLOW)
        now = time.monotonic()
        if now - self._overflow_said > REPORT_EVERY:
            self._overflow_said = now
            log.error(
                "The spool is full (%d bytes): messages are dropped (%d so far)",
                self.spool.max_bytes,
                self.counts[Event.RELAY_SPOOL_OVERFLOW],
            )

    # --- publishing -----------------------------------------------------------------

    async def _publish(self, record: Record, spooled: bool) -> None:
        assert self.nc is not None
        headers = {"Nats-Msg-Id": record.id}
        if record.id.endswith(SECOND):
            failures = self.failures
            while self.sent and self.failures == failures:  # the first copy's ack
                self._space.clear()
                await self._space.wait()
            if self.failures != failures or self.nc is None or (self.spooling and not spooled):
                if not spooled:
                    self._to_spool(record)
                return
            after = self.after.pop(record.id[: -len(SECOND)], None)
            if after is not None:
                headers[AFTER] = after
        self.number += 1
        self.sent[self.number] = Sent(record, time.monotonic(), spooled)
        try:
            await self.nc.publish(
                record.subject,
                record.payload,
                reply=f"{self.inbox}.{self.number}",
                headers=headers,
            )
        except (nats.errors.Error, OSError) as e:
            self.fail(f"cannot publish: {e}")

    async def _answer(self, msg: Msg) -> None:
        number = int(msg.subject.rpartition(".")[2])
        sent = self.sent.get(number)
        if sent is None:
            return  # sent again since: the spool has it
        data = msg.data
        if msg.headers and msg.headers.get("Status") == "503":
            self.fail("no stream answers for the subjects")
        elif b'"error"' in data:
            error = json.loads(data).get("error", {})
            self._refused.setdefault(sent.record.subject, sent.record.id)
            self.fail(f"the stream refused a message: {error.get('description', data[:200])}")
        else:
            del self.sent[number]
            if len(self.sent) < self.settings.nats_window:
                self._space.set()
            refused = self._refused.get(sent.record.subject)
            if refused == sent.record.id:
                del self._refused[sent.record.subject]  # stored at last, in its place
            elif refused is not None and b'"duplicate"' not in data:
                self.counts.add(Event.RELAY_SWAPPED)
                log.warning(
                    "%s: a message was stored before an earlier one the stream refused",
                    sent.record.subject,
                )
            self.failing = False
            self.counts.add(Event.RELAY_PUBLISHED)
            if sent.record.id.endswith(FIRST):
                p = sent.record.subject.split(".")[2]
                self.after[sent.record.id[: -len(FIRST)]] = f"{p} {json.loads(data)['seq']}"
            if b'"duplicate"' in data:
                self.counts.add(Event.RELAY_DUPLICATES)

    def fail(self, reason: str) -> None:
        """A publish failed: everything unanswered goes to the spool, in order, and is
        sent from there again."""
        if not self.failing:
            log.warning("NATS: %s", reason)
        self.failing = True
        self.failures += 1
        self._start_spooling()
        self.sent.clear()
        self._space.set()

    def check_timeouts(self) -> None:
        if self.sent:
            waited = time.monotonic() - next(iter(self.sent.values())).at
            if waited > ACK_TIMEOUT:
                self.fail(f"no answer to a publish in {ACK_TIMEOUT:g} s")
            elif waited > STALL and not self.spooling:
                self._start_spooling()

    async def replay(self) -> None:
        """Publish the spool in order whenever NATS takes messages; back to publishing
        directly once it is empty."""
        backoff = 1.0
        while not self.gave_up:
            await self._wake.wait()
            self._wake.clear()
            while self.spooling and self._connected():
                if not self.spool:
                    if not self.sent:
                        self.spooling = False
                        self._refused.clear()
                        log.info("The spool is published: messages go to NATS directly again")
                    break
                if not await self._replay_some():
                    await asyncio.sleep(backoff)
                    backoff = min(RETRY_MAX, backoff * 2)
                else:
                    backoff = 1.0

    async def _replay_some(self) -> bool:
        chunk = self.spool.peek(self.settings.nats_window)
        failures = self.failures
        for record, _ in chunk:
            await self._publish(record, spooled=True)
            if self.failures != failures:
                return False
        deadline = time.monotonic() + ACK_TIMEOUT
        while self.sent and self.failures == failures and time.monotonic() < deadline:
            self._space.clear()
            try:
                await asyncio.wait_for(self._space.wait(), ACK_TIMEOUT)
            except TimeoutError:
                break
        if self.sent or self.failures != failures:
            if self.sent:
                self.fail(f"no answer to a publish in {ACK_TIMEOUT:g} s")
            return False
        end: Position = chunk[-1][1]
        self.spool.commit(end)
        self.counts.add(Event.RELAY_REPLAYED, len(chunk))
        return True

    # --- the connection -------------------------------------------------------------

    async def connect(self) -> None:
        nc = await connect(
            self.settings,
            "rrdd relay",
            retry=True,
            on_disconnect=self._disconnected,
            on_reconnect=self._reconnected,
            stopped=lambda: self.gave_up,
        )
        if nc is None:
            return
        self.nc = nc
        self.inbox = nc.new_inbox()
        await nc.subscribe(f"{self.inbox}.*", cb=self._answer, pending_msgs_limit=1 << 20)
        await self._check_stream()

    async def _check_stream(self) -> None:
        assert self.nc is not None
        while not self.gave_up:
            try:
                await make_stream(self.nc.jetstream(timeout=5), self.settings)
            except ConfigError as e:
                self.fatal = e
                self.stop()
                return
            except (TimeoutError, nats.errors.Error) as e:
                log.error("NATS: cannot make or check stream %s: %s", self.stream.name, e)
                await asyncio.sleep(2)
                continue
            self.ready = True
            log.info("Publishing to stream %s at %s", self.stream.name, self.settings.nats)
            self._wake.set()
            return

    async def _disconnected(self) -> None:
        if self.sent:
            self.fail("the connection to NATS was lost")
        elif not self.spooling and self.running:
            log.warning("NATS: the connection was lost")

    async def _reconnected(self) -> None:
        self._wake.set()

    async def finish(self) -> None:
        """At the end of the channel: wait a while for the acks of what was sent; the
        rest stays in the spool for the next start."""
        deadline = time.monotonic() + STOP_PATIENCE
        while not self.ready or self.sent or (self.spooling and self.spool):
            if time.monotonic() > deadline or self.fatal is not None:
                break
            self._wake.set()
            await asyncio.sleep(0.05)
        self.gave_up = True
        if self.sent:
            self.fail("stopping with publishes unanswered")
        if self.spool:
            log.warning(
                "%d bytes stay in the spool %s for the next start",
                self.spool.bytes,
                self.spool.directory,
            )
        self.spooling = False
        self._wake.set()
        if self.nc is not None:
            await close(self.nc)


async def _main(relay: Relay, loop: Loop, fd: int) -> None:
    connecting = asyncio.ensure_future(relay.connect())
    # The channel is read once NATS is ready, or after CONNECT_GRACE: what comes meanwhile
    # waits in xymond_channel's pipe rather than going through the spool on disk.
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.shield(connecting), CONNECT_GRACE)
    replaying = asyncio.ensure_future(relay.replay())
    loop.every(STALL / 4, relay.check_timeouts)
    try:
        await relay.read(fd, loop)
    finally:
        relay.running = False
        await relay.finish()
        if not connecting.done():
            connecting.cancel()
        replaying.cancel()
        await asyncio.gather(connecting, replaying, return_exceptions=True)


def _flush_socket(settings: Settings) -> FlushSocket | None:
    """The relay takes rrdd's place under xymond_channel, so `rrdd flush` and showgraph
    find its rrdctl socket where they looked for rrdd's."""
    if settings.tmpdir is None:
        return None
    try:
        return FlushSocket(settings.tmpdir, str(settings.rrddir))
    except StartError as e:
        log.warning("No flush socket: %s", e)
        return None


def _answer_flushes(flush: FlushSocket) -> None:
    """A flush request needs nothing of the relay: it holds no values (they go to NATS as
    they come), and the workers make each batch durable before they acknowledge it."""
    for request in flush.requests():
        flush.answer(request, f"rrdd relay {os.getpid()}: 0 files flushed (it holds no values)")


def run_relay(settings: Settings, fd: int = 0) -> int:
    counts = Counts()
    if settings.nats_spool_dir is None:
        raise ConfigError("the relay needs a spool: set nats_spool_dir (or state_dir, XYMONTMP)")
    spool = Spool(settings.nats_spool_dir, settings.nats_spool_max)
    relay = Relay(settings, counts, spool)
    loop = Loop()

    def on_signal(signum: object) -> None:
        if signum in SIGNALS[:2] and relay.running:
            log.info("Got a signal to stop")
            relay.stop()
        else:
            logsetup.reopen()

    loop.on_signals(on_signal, SIGNALS)
    flush = _flush_socket(settings)
    if flush is not None:
        loop.reader(flush.fileno(), lambda: _answer_flushes(flush))
    try:
        loop.run(_main(relay, loop, fd))
    finally:
        if flush is not None:
            flush.close()
        spool.close()
        loop.close()
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.totals().items()) if v)
    log.info("Totals: %s", summary or "nothing received")
    if relay.fatal is not None:
        raise relay.fatal
    return 0
