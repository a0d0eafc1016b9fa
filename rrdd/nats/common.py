"""What the relay, the workers and the tools share: the connection, the stream, the partitions.

Subjects are ``<subject>.part.<p>.<host token>``: the token is the host name with its dots
as commas (as Xymon writes host names in status lines) and every byte a subject cannot
hold (white space, ``*``, ``>``, non-ASCII) as ``_``. The token only places a message:
the worker reads the host from the message itself, so two hosts sharing a token merely
share a partition. The partition is fnv1a32(token) % P, the server's own
``partition(P,1)`` mapping, so anyone can compute it without asking the server.

P is fixed when the relay makes the stream and kept in the stream's description
(``rrdd partitions=32``): a 2.9 server has no stream metadata. Changing P moves hosts
between partitions, which is safe only once every consumer is drained.

With nats_copy the relay also publishes every message to ``<stream>_COPY``, subjects
``<subject>_copy.part.<p>.<host token>``, a stream that keeps messages by age and size
rather than until a worker took them, for a second site (rrdd standby): a mirror of
the work queue itself would lose what the workers took while the mirror was away. Its
description gives its subject prefix too (``rrdd partitions=32 subject=rrdd_copy``),
and so does the standby site's mirror of it, whose workers read that prefix from there.

Secrets never come from the command line: the password and the token from a file
(nats_password_file, nats_token_file) or the environment (RRDD_NATS_PASSWORD,
RRDD_NATS_TOKEN), credentials and nkey seeds from their files.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext, api

from rrdd.errors import ConfigError, StartError
from rrdd.settings import Settings

log = logging.getLogger("rrdd.nats")

DESCRIPTION = "rrdd partitions="  # the stream's description: P follows
_DESCRIBED = re.compile(r"rrdd partitions=(\d+)\b")
_DESCRIBED_SUBJECT = re.compile(r"\bsubject=([A-Za-z0-9_-]+)")
PASSWORD_ENV, TOKEN_ENV = "RRDD_NATS_PASSWORD", "RRDD_NATS_TOKEN"
_TOKEN_BYTES = bytes(range(0x21, 0x7F)).translate(None, b".*>")  # kept as they are


def fnv1a32(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


_TOKEN_TABLE = bytes(b if b in _TOKEN_BYTES else (0x2C if b == 0x2E else 0x5F) for b in range(256))


def host_token(host: bytes) -> str:
    """The subject token of a host: dots as commas, what a token cannot hold as "_"."""
    return host.translate(_TOKEN_TABLE).decode("ascii") or "_"


def partition_of(token: str, partitions: int) -> int:
    return fnv1a32(token.encode("ascii")) % partitions


@dataclass(frozen=True)
class Stream:
    """The stream's names, from the settings; P comes from the stream itself."""

    name: str  # the stream's name
    prefix: str  # subjects are <prefix>.part.<p>.<token>

    @classmethod
    def of(cls, settings: Settings, info: api.StreamInfo | None = None) -> Stream:
        """The names in the settings, or the subject prefix the stream's description
        gives (a standby site's mirror keeps the main site's copy subjects)."""
        found = _DESCRIBED_SUBJECT.search(info.config.description or "") if info else None
        return cls(settings.nats_stream, found[1] if found else settings.nats_subject)

    @property
    def copy(self) -> Stream:
        """The copy the relay keeps for a second site (nats_copy)."""
        return Stream(f"{self.name}_COPY", f"{self.prefix}_copy")

    def subject(self, p: int, token: str) -> str:
        return f"{self.prefix}.part.{p}.{token}"

    def filter(self, p: int) -> str:
        return f"{self.prefix}.part.{p}.>"

    @property
    def leases(self) -> str:
        """The KV bucket of the workers' leases, one key per partition."""
        return f"{self.name}_leases"


def consumer_name(p: int) -> str:
    return f"part-{p}"


def lease_key(p: int) -> str:
    return f"part-{p}"


def described_partitions(description: str | None) -> int | None:
    m = _DESCRIBED.search(description or "")
    return int(m[1]) if m else None


# --- the connection ---------------------------------------------------------------------


def _secret(path: Path | None, env: str, what: str) -> str | None:
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigError(f"{what} file {path}: {e.strerror or e}") from None
    return os.environ.get(env) or None


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """TLS when a CA or a client certificate is given (or a tls:// server)."""
    wanted = settings.nats_tls_ca or settings.nats_tls_cert
    if not wanted and not any(s.startswith("tls://") for s in servers(settings)):
        return None
    try:
        context = ssl.create_default_context(
            cafile=str(settings.nats_tls_ca) if settings.nats_tls_ca else None
        )
        if settings.nats_tls_cert:
            key = settings.nats_tls_key or settings.nats_tls_cert
            context.load_cert_chain(str(settings.nats_tls_cert), str(key))
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(f"NATS TLS files: {e}") from None
    return context


def servers(settings: Settings) -> list[str]:
    given = settings.nats or ""
    return [s if "://" in s else f"nats://{s}" for s in given.split(",") if s]


def connect_options(settings: Settings) -> dict[str, Any]:
    """nats.connect's keywords for the settings: servers, credentials, TLS. Secrets are
    read here, from files or the environment, and never logged."""
    if not settings.nats:
        raise ConfigError("no NATS server: give --nats=nats://HOST:4222[,nats://HOST2:4222]")
    options: dict[str, Any] = {"servers": servers(settings)}
    password = _secret(settings.nats_password_file, PASSWORD_ENV, "nats_password_file")
    token = _secret(settings.nats_token_file, TOKEN_ENV, "nats_token_file")
    if settings.nats_user:
        if password is None:
            raise ConfigError(
                f"nats_user {settings.nats_user} needs a password: nats_password_file "
                f"or ${PASSWORD_ENV}"
            )
        options.update(user=settings.nats_user, password=password)
    elif token:
        options["token"] = token
    for path, key in ((settings.nats_creds, "user_credentials"), (settings.nats_nkey_seed, "")):
        if path is None:
            continue
        if not os.access(path, os.R_OK):
            raise ConfigError(f"NATS {'credentials' if key else 'nkey seed'} {path}: unreadable")
        options[key or "nkeys_seed"] = str(path)
    context = tls_context(settings)
    if context is not None:
        options["tls"] = context
    return options


def describe_error(e: BaseException) -> str:
    """A NATS failure in one line, with what to check."""
    text = str(e).strip("'\" ") or type(e).__name__
    lowered = text.lower()
    if "authorization" in lowered or "authentication" in lowered:
        return f"{text}: the server refused the credentials (nats_user, password, creds, nkey)"
    if isinstance(e, ssl.SSLError) or "certificate" in lowered or "ssl" in lowered:
        return f"TLS: {text} (check nats_tls_ca, nats_tls_cert and the server's certificate)"
    if isinstance(e, nats.errors.NoServersError | ConnectionRefusedError | socket.gaierror):
        return f"no NATS server reachable ({text})"
    return text


async def connect(
    settings: Settings,
    name: str,
    *,
    retry: bool = False,
    on_disconnect: Callable[[], Awaitable[None]] | None = None,
    on_reconnect: Callable[[], Awaitable[None]] | None = None,
    stopped: Callable[[], bool] = lambda: False,
) -> Client | None:
    """A connection to a server of the list. With `retry` (relay, worker) it is tried for
    ever, until it is made or `stopped()` (then None), and goes on to another server
    whenever its own goes away. Without (the tools), each server is tried in turn, three
    times at most, and a failure raises StartError with a clear reason."""
    options = connect_options(settings)
    first_error: list[str] = []

    said: dict[str, float] = {}

    async def errors(e: Exception) -> None:
        # The client reports each failed attempt (it tries again by itself, every
        # second): each reason is logged once a minute, the first one is kept.
        text = describe_error(e)
        if not first_error:
            first_error.append(text)
        now = time.monotonic()
        if now - said.get(text, -60.0) >= 60.0:
            said[text] = now
            log.error("NATS at %s: %s", settings.nats, text)
        else:
            log.debug("NATS: %s", text)

    async def disconnected() -> None:
        if on_disconnect is not None:
            await on_disconnect()

    async def reconnected() -> None:
        log.info(
            "NATS: connected again to %s", nc.connected_url.netloc if nc.connected_url else "?"
        )
        if on_reconnect is not None:
            await on_reconnect()

    backoff = 1.0
    while True:
        nc = Client()
        attempt = asyncio.ensure_future(
            nc.connect(
                name=name,
                error_cb=errors,
                disconnected_cb=disconnected,
                reconnected_cb=reconnected,
                # relay and worker try for ever, in an order of their own that spreads
                # them over the servers; a tool tries the servers in order, and stops at
                # one that refuses it (a password, a certificate), as all would.
                max_reconnect_attempts=-1 if retry else 2,
                dont_randomize=not retry,
                allow_reconnect=retry,
                reconnect_time_wait=1,
                connect_timeout=5,
                **options,
            )
        )
        try:
            while not attempt.done():
                if stopped():
                    attempt.cancel()
                    await asyncio.wait({attempt})
                    await close(nc)
                    return None
                await asyncio.wait({attempt}, timeout=0.1)
            attempt.result()
            return nc
        except (TimeoutError, OSError, nats.errors.Error, ssl.SSLError) as e:
            reason = first_error[0] if first_error else describe_error(e)
            first_error.clear()
            if not retry:
                raise StartError(f"cannot connect to NATS at {settings.nats}: {reason}") from None
            log.error("Cannot connect to NATS at %s: %s; trying again", settings.nats, reason)
        if stopped():
            return None
        for _ in range(int(backoff * 10)):
            if stopped():
                return None
            await asyncio.sleep(0.1)
        backoff = min(30.0, backoff * 2)


async def close(nc: Client) -> None:
    """Close a connection. While every server is away nats-py may raise from a
    connection it was still making; there is nothing left to close then."""
    with contextlib.suppress(OSError, nats.errors.Error):
        await nc.close()


# Failures that pass: a server going away, a leader being elected. What raises one of
# these is tried again; other errors are reported.
TRANSIENT = (
    TimeoutError,  # nats.errors.TimeoutError is one
    nats.errors.NoRespondersError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.NoStreamResponseError,
)


# --- the stream -------------------------------------------------------------------------


def stream_config(settings: Settings, partitions: int) -> api.StreamConfig:
    stream = Stream.of(settings)
    return api.StreamConfig(
        name=stream.name,
        description=f"{DESCRIPTION}{partitions} (made by rrdd relay; P is fixed)",
        subjects=[f"{stream.prefix}.part.>"],
        retention=api.RetentionPolicy.WORK_QUEUE,
        storage=api.StorageType.FILE,
        discard=api.DiscardPolicy.NEW,
        max_bytes=settings.nats_max_bytes,
        duplicate_window=settings.nats_duplicate_window,
        num_replicas=settings.nats_replicas,
    )


def copy_config(settings: Settings, partitions: int) -> api.StreamConfig:
    copy = Stream.of(settings).copy
    return api.StreamConfig(
        name=copy.name,
        description=f"{DESCRIPTION}{partitions} subject={copy.prefix} (made by rrdd relay: "
        "a copy for a second site)",
        subjects=[f"{copy.prefix}.part.>"],
        retention=api.RetentionPolicy.LIMITS,
        storage=api.StorageType.FILE,
        discard=api.DiscardPolicy.OLD,  # a site long away must not stop this one
        max_age=settings.nats_copy_max_age,
        max_bytes=settings.nats_copy_max_bytes,
        duplicate_window=min(settings.nats_duplicate_window, settings.nats_copy_max_age),
        num_replicas=settings.nats_replicas,
    )


async def make_stream(js: JetStreamContext, settings: Settings) -> int:
    """The relay's start: make the stream, or check the one there; its P. The same for
    the copy, with nats_copy.

    An existing stream's partition count and replicas are reported when the settings
    differ, never changed; its byte cap and duplicate window follow the settings."""
    partitions = await _make_main(js, settings)
    if settings.nats_copy:
        await _make_copy(js, settings, partitions)
    return partitions


async def _make_main(js: JetStreamContext, settings: Settings) -> int:
    name = settings.nats_stream
    try:
        info = await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        await js.add_stream(stream_config(settings, settings.nats_partitions))
        log.info(
            "Stream %s made: %d partitions, %d replicas",
            name,
            settings.nats_partitions,
            settings.nats_replicas,
        )
        return settings.nats_partitions
    partitions = partitions_of(info)
    config = info.config
    if partitions != settings.nats_partitions:
        raise ConfigError(
            f"stream {name} has {partitions} partitions and nats_partitions is "
            f"{settings.nats_partitions}: P is fixed when the stream is made (to change it, "
            "drain every partition and delete the stream)"
        )
    if (config.num_replicas or 1) != settings.nats_replicas:
        raise ConfigError(
            f"stream {name} has {config.num_replicas or 1} replicas and nats_replicas is "
            f"{settings.nats_replicas}: change the stream with the nats tool, not here"
        )
    if config.max_bytes != settings.nats_max_bytes or (
        config.duplicate_window != settings.nats_duplicate_window
    ):
        await js.update_stream(stream_config(settings, partitions))
        log.info("Stream %s: max_bytes and duplicate_window set from the settings", name)
    return partitions


async def _make_copy(js: JetStreamContext, settings: Settings, partitions: int) -> None:
    name, wanted = Stream.of(settings).copy.name, copy_config(settings, partitions)
    try:
        info = await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        await js.add_stream(wanted)
        log.info("Stream %s made: a copy of every message for a second site", name)
        return
    found = partitions_of(info)
    if found != partitions or (info.config.num_replicas or 1) != settings.nats_replicas:
        raise ConfigError(
            f"stream {name} has {found} partitions and {info.config.num_replicas or 1} "
            f"replicas, stream {settings.nats_stream} {partitions} and nats_replicas is "
            f"{settings.nats_replicas}: delete {name} (a standby site's mirror of it "
            "then starts again from what the new one holds)"
        )
    config = info.config
    if (config.max_age, config.max_bytes, config.duplicate_window) != (
        wanted.max_age,
        wanted.max_bytes,
        wanted.duplicate_window,
    ):
        await js.update_stream(wanted)
        log.info("Stream %s: max_age, max_bytes and duplicate_window set", name)


async def stream_partitions(js: JetStreamContext, settings: Settings) -> int | None:
    """P of the existing stream, or None when there is no stream yet."""
    info = await find_stream(js, settings)
    return None if info is None else partitions_of(info)


async def find_stream(js: JetStreamContext, settings: Settings) -> api.StreamInfo | None:
    try:
        return await js.stream_info(settings.nats_stream)
    except nats.js.errors.NotFoundError:
        return None


def partitions_of(info: api.StreamInfo) -> int:
    partitions = described_partitions(info.config.description)
    if partitions is None:
        raise ConfigError(
            f"stream {info.config.name} was not made by rrdd relay: its description "
            f"{info.config.description!r} does not give the partition count"
        )
    return partitions


def owner_text(worker: str, extra: dict[str, Any] | None = None) -> bytes:
    """A lease's value: who holds the partition."""
    return json.dumps(
        {"worker": worker, "host": socket.gethostname(), "pid": os.getpid(), **(extra or {})}
    ).encode()


def read_owner(value: bytes | None) -> dict[str, Any]:
    try:
        found = json.loads(value or b"{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
