"""rrdd standby: a second site's stream, a mirror of the copy the main site's relay keeps.

    rrdd standby --nats=nats://standby-mq:4222 --nats-copy-from=main

Run on the standby site, against its own nats-server, which reaches the main site's
cluster through a leafnode connection, each side with a JetStream domain of its own
(extras/nats-standby.conf). It makes the stream this site's workers read (nats_stream,
a work queue like the main site's) as a mirror of ``<stream>_COPY`` in the main site's
domain, with the copy's description: P and the copy's subject prefix, which the
workers take from there. A mirror keeps the copy's sequence numbers, so a renamehost's
reference to the other partition (relay.py, AFTER) holds on this site too. While the
link is down the main site keeps its copy (nats_copy_max_age, nats_copy_max_bytes) and
the mirror goes on from where it stopped when the link is back.

Run again, it checks the stream that is there and prints how far behind it is; a
stream that is not such a mirror is reported, never changed. It exits 0, 1 when the
main site cannot be reached to make the mirror, 2 on a configuration error.
"""

from __future__ import annotations

import argparse
import asyncio

import nats.js.errors
from nats.js import JetStreamContext, api

from rrdd.errors import ConfigError, StartError
from rrdd.nats import options
from rrdd.nats.common import (
    DESCRIPTION,
    TRANSIENT,
    Stream,
    close,
    connect,
    find_stream,
    partitions_of,
)
from rrdd.nats.tools import mirror_text
from rrdd.settings import Settings


def mirror_config(settings: Settings, domain: str, origin: api.StreamInfo) -> api.StreamConfig:
    copy = Stream.of(settings).copy
    described = Stream.of(settings, origin)
    return api.StreamConfig(
        name=settings.nats_stream,
        description=f"{DESCRIPTION}{partitions_of(origin)} subject={described.prefix} "
        f"(made by rrdd standby: a mirror of {copy.name} in domain {domain})",
        retention=api.RetentionPolicy.WORK_QUEUE,
        storage=api.StorageType.FILE,
        max_bytes=settings.nats_max_bytes,
        num_replicas=settings.nats_replicas,
        mirror=api.StreamSource(
            name=copy.name, external=api.ExternalStream(api=f"$JS.{domain}.API")
        ),
    )


async def _origin(main: JetStreamContext, settings: Settings, domain: str) -> api.StreamInfo:
    copy = Stream.of(settings).copy.name
    try:
        return await main.stream_info(copy)
    except nats.js.errors.NotFoundError:
        raise StartError(
            f"the main site (JetStream domain {domain}) has no stream {copy}: set nats_copy "
            "for its relay, which makes it"
        ) from None
    except TRANSIENT:
        raise StartError(
            f"no answer from JetStream domain {domain}: is the leafnode link to the main "
            "site up, and is that its domain?"
        ) from None


async def _standby(args: argparse.Namespace) -> str:
    settings = options.read_settings(args, rrddir_needed=False)
    domain = settings.nats_copy_from
    if not domain:
        raise ConfigError("give the main site's JetStream domain: --nats-copy-from=DOMAIN")
    nc = await connect(settings, "rrdd standby")
    assert nc is not None  # a tool's connection is made or raises
    try:
        js = nc.jetstream(timeout=10)
        info = await find_stream(js, settings)
        made = info is None
        if info is None:
            origin = await _origin(nc.jetstream(timeout=10, domain=domain), settings, domain)
            await js.add_stream(mirror_config(settings, domain, origin))
            info = await js.stream_info(settings.nats_stream)
        wanted = Stream.of(settings).copy.name
        external = info.config.mirror.external if info.config.mirror else None
        if (
            info.mirror is None
            or info.mirror.name != wanted
            or external is None
            or (external.api != f"$JS.{domain}.API")
        ):
            raise ConfigError(
                f"stream {settings.nats_stream} on this site is not a mirror of {wanted} in "
                f"domain {domain}: it is left as it is (is this the main site?)"
            )
        stream = Stream.of(settings, info)
        return (
            f"rrdd standby: stream {settings.nats_stream} {'made' if made else 'found'}, "
            f"{partitions_of(info)} partitions, subjects {stream.prefix}.part.*; "
            f"{mirror_text(info)}"
        )
    finally:
        await close(nc)


def standby(args: argparse.Namespace) -> int:
    print(asyncio.run(_standby(args)))
    return 0
