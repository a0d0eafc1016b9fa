"""The running parts, built from the settings in the order start-up needs.

The file creation workers come first (forked before any thread starts; they drop root
themselves), then what needs root (the rrdcached socket, the flush socket, a metrics
port below 1024), then root is dropped, then the RRD directory is checked and the
writer and the main loop are made. A part that cannot be had raises StartError: rrdd
says so and exits 1. `cli.run_daemon` builds one of everything; with --workers,
`shards` builds the metrics and the file watcher in the router and the rest in each
worker.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from rrdd import __version__, privileges, systemd
from rrdd.daemon import Daemon, cache_policy
from rrdd.errors import StartError
from rrdd.events import Counts
from rrdd.flush import FlushSocket
from rrdd.metrics import Metrics
from rrdd.parsers import load_builtins
from rrdd.problems import Journal, Problems
from rrdd.processor import Processor
from rrdd.settings import Settings, split_address
from rrdd.sharing import SharedMetrics, StateDir
from rrdd.watch import ConfigWatcher
from rrdd.writer.creator import Creators
from rrdd.writer.rrdcached import Rrdcached, shares_files
from rrdd.writer.rrdwriter import RrdWriter
from rrdd.writer.store import StoreUnavailable
from rrdd.xymoncfg import RraDefinitions

log = logging.getLogger("rrdd")


def check_rrddir(settings: Settings) -> str | None:
    path = settings.rrddir
    try:
        if not path.is_dir():
            return f"RRD directory {path} does not exist"
    except OSError as e:
        return f"RRD directory {path} cannot be used: {e.strerror}"
    if not os.access(path, os.W_OK | os.X_OK):
        return f"RRD directory {path} is not writable"
    return None


def start_creators(settings: Settings, counts: Counts) -> Creators | None:
    """The file creation workers, forked now, while this process has one thread and a
    small heap, and is still root: they drop it at once themselves. With rrdcached they
    make the files when the daemon works in the same directory (then a file made here
    costs the daemon nothing, and two processes make them while rrdd reads on); else the
    daemon makes them."""
    if not settings.create_workers:
        return None
    if settings.rrdcached and not shares_files(settings.rrdcached, settings.rrdcached_shares_files):
        return None
    become = privileges.ids(settings.user, settings.group)
    creators = Creators(settings.create_workers, counts, become)
    try:
        creators.start()
    except OSError as e:
        raise StartError(f"cannot start a process to create RRD files: {e}") from None
    return creators


def start_metrics(settings: Settings, counts: Counts) -> SharedMetrics | None:
    """/metrics, when asked for: served from `SharedMetrics.start`, called once root is
    dropped, with the figures of every rrdd of state_dir. A port that needs root is
    bound now, while rrdd has it."""
    address = settings.metrics_listen
    if not address:
        return None
    metrics = Metrics(counts, version=__version__)
    state = StateDir(settings.state_dir, address) if settings.state_dir else None
    shared = SharedMetrics(metrics, address, state, settings.metrics_retry)
    if os.geteuid() == 0 and settings.user and split_address(address)[1] < 1024:
        shared.try_serve()
    return shared


def writer_gauges(metrics: Metrics, writer: RrdWriter, last_message: Callable[[], float]) -> None:
    """The gauges of one rrdd process that writes (not the router of --workers)."""
    metrics.gauges.update(
        {
            "rrdd_cache_pending_values": writer.pending,
            "rrdd_cache_files": writer.pending_files,
            "rrdd_last_message_timestamp_seconds": last_message,
        }
    )
    store = writer.store
    if store.daemon:
        metrics.gauges["rrdd_rrdcached_connected"] = lambda: float(store.connected)


class Running(NamedTuple):
    daemon: Daemon
    writer: RrdWriter
    processor: Processor | None


def start_daemon(
    settings: Settings,
    rras: RraDefinitions,
    rebuild: Callable[[], Settings],
    counts: Counts,
    metrics: Metrics | None,
    creators: Creators | None = None,
) -> Running:
    """The store, the flush socket, the processor, the problems journal, the writer and
    the main loop over them; root is dropped on the way. `metrics` gets the writer's
    flush times; `creators` (from start_creators) make the new files."""
    here = (
        shares_files(settings.rrdcached, settings.rrdcached_shares_files)
        if settings.rrdcached
        else True
    )
    try:
        store = (
            Rrdcached(settings.rrdcached, str(settings.rrddir), counts=counts, files_here=here)
            if settings.rrdcached
            else None
        )
    except StoreUnavailable as e:
        raise StartError(str(e)) from None
    flush_socket = FlushSocket(settings.tmpdir, str(settings.rrddir)) if settings.tmpdir else None
    load_builtins()  # import every parser while the code is surely readable
    privileges.drop(settings.user, settings.group)
    problem = check_rrddir(settings) if here else None  # else: the daemon's base directory
    if problem:
        raise StartError(problem)
    if settings.snmpmibs is None:
        log.info("No snmpmibs.cfg in $XYMONHOME/etc: SNMP MIB tests other than ifmib are not read")
    if settings.protocols is None:
        log.info("No protocols.cfg in $XYMONHOME/etc: the TCP services are XYMONNETSVCS only")
    if bool(settings.extra_script) != bool(settings.extra_tests):
        log.warning("--extra-script and --extra-tests work only together; neither is used")
    journal = Journal(settings.state_dir) if settings.state_dir else None
    if journal is not None:
        journal.start()
    problems = Problems(counts, journal)
    processor = None
    if settings.processor:
        processor = Processor(
            settings.processor,
            counts,
            bufsize=settings.processor_bufsize,
            flush_each=settings.processor_flush,
        )
    elif not settings.rrd:
        log.warning("RRD writing disabled, but no external processor has been specified")
    writer = RrdWriter(
        settings.rrddir,
        rras,
        counts,
        problems=problems,
        store=store,
        cache=settings.cache,
        update=settings.rrd,
        policy=cache_policy(settings),
        accepted=processor.accept if processor else None,
        observe=metrics.observe_flush if metrics else None,
        progress=lambda text: systemd.notify(f"STATUS={text}"),
        creators=creators,
    )
    daemon = Daemon(settings, writer, counts, flush_socket, rebuild, problems)
    return Running(daemon, writer, processor)


def lost_creates(writer: RrdWriter) -> int:
    """The exit status at the end: 1, with the reason, if files were not made because no
    process to create them could be started; else 0."""
    creators = writer.making.creators
    why = creators.cannot_start if creators is not None else None
    if why is None:
        return 0
    log.error("Some new files were not created (%s): exit status 1", why)
    return 1


def start_watcher(
    settings: Settings, config_files: tuple[Path, ...], changed: Callable[[], None]
) -> ConfigWatcher:
    """Watch the main file, the directory of its fragments and the Xymon files read at
    start; `changed` is called from the watcher's thread."""
    fragment_dirs = {p.parent for p in config_files[1:]}
    watched = [
        *config_files[:1],
        *fragment_dirs,
        settings.rrddefinitions,
        settings.protocols,
        settings.snmpmibs,
        settings.hostscfg,
    ]
    watcher = ConfigWatcher([p for p in watched if p is not None], changed)
    watcher.start()
    return watcher
