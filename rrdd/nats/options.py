"""The command lines of rrdd relay, worker, top, check and send (argparse only: no NATS).

Each option's dest is its Settings field, so the command line, the environment and the
file meet in settings.resolve_settings as for every other setting, and `rrdd
check-config` prints them.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from rrdd.config import read_config
from rrdd.errors import ConfigError
from rrdd.settings import Settings, resolve_settings

DEFAULT_CONFIG = Path("/etc/rrdd/rrdd.toml")
COMMANDS = """\
  rrdd relay --nats=URL        read the channel on stdin and publish it to NATS
                               JetStream (in place of rrdd under xymond_channel)
  rrdd worker --nats=URL --worker=I/N [OPTIONS]
                               write the partitions p % N == I of the stream
  rrdd top --nats=URL          a live table of the partitions (--once for scripts)
  rrdd check --nats=URL        a Nagios/Xymon check of the backlog and the workers
  rrdd send --nats=URL [MSG]   submit messages from the command line or stdin
  rrdd standby --nats=URL --nats-copy-from=DOMAIN
                               make a standby site's stream, a mirror of the main
                               site's copy (nats_copy)"""


def connection(p: argparse.ArgumentParser, standalone: bool = True) -> None:
    """What every NATS command needs to reach the stream (`standalone`: and --config and
    --debug, which rrdd's own parser has)."""
    g = p.add_argument_group("NATS connection (secrets from files or the environment only)")
    if standalone:
        g.add_argument("--config", metavar="FILE", type=Path, help="configuration file")
        g.add_argument("--debug", action="store_true", help="log debugging detail")
    g.add_argument(
        "--nats",
        metavar="URL[,URL]",
        help="NATS servers: nats://HOST:4222 or tls://HOST:4222, comma-separated",
    )
    g.add_argument("--nats-stream", metavar="NAME", help="the stream (default RRDD)")
    g.add_argument("--nats-subject", metavar="TOKEN", help="subject prefix (default rrdd)")
    g.add_argument("--nats-user", metavar="USER", help="user name; password from the next")
    g.add_argument(
        "--nats-password-file", metavar="FILE", type=Path, help="else $RRDD_NATS_PASSWORD"
    )
    g.add_argument("--nats-token-file", metavar="FILE", type=Path, help="else $RRDD_NATS_TOKEN")
    g.add_argument("--nats-creds", metavar="FILE", type=Path, help="a NATS credentials file")
    g.add_argument("--nats-nkey-seed", metavar="FILE", type=Path, help="a file with an nkey seed")
    g.add_argument("--nats-tls-ca", metavar="FILE", type=Path, help="CA of the server certificate")
    g.add_argument(
        "--nats-tls-cert", metavar="FILE", type=Path, help="client certificate (mutual TLS)"
    )
    g.add_argument("--nats-tls-key", metavar="FILE", type=Path, help="its private key")


def relay_options(p: argparse.ArgumentParser, standalone: bool = True) -> None:
    g = p.add_argument_group("relay")
    g.add_argument(
        "--nats-partitions", metavar="P", type=int, help="partitions of a new stream (32)"
    )
    g.add_argument("--nats-replicas", metavar="N", type=int, help="replicas of a new stream (1)")
    g.add_argument("--nats-max-bytes", metavar="BYTES", type=int, help="the stream's cap (1 GiB)")
    g.add_argument(
        "--nats-duplicate-window", metavar="SECONDS", type=float, help="dedupe window (120)"
    )
    g.add_argument("--nats-window", metavar="N", type=int, help="publishes awaiting acks (1024)")
    g.add_argument(
        "--nats-spool-dir",
        metavar="DIR",
        type=Path,
        help="spool while NATS cannot take messages (default: <state_dir>/nats-spool)",
    )
    g.add_argument("--nats-spool-max", metavar="BYTES", type=int, help="spool size cap (1 GiB)")
    g.add_argument(
        "--nats-copy",
        action="store_true",
        default=None,
        help="also publish every message to <stream>_COPY, for a standby site",
    )
    g.add_argument(
        "--nats-copy-max-age", metavar="SECONDS", type=float, help="the copy is kept (86400)"
    )
    g.add_argument(
        "--nats-copy-max-bytes", metavar="BYTES", type=int, help="the copy's cap (1 GiB)"
    )
    if not standalone:
        return
    g.add_argument("--rrddir", metavar="DIR", help="RRD directory, to answer flush requests")
    g.add_argument(
        "--rrdcached", metavar="ADDRESS", help="rrdcached that flush requests are passed to"
    )


def worker_options(p: argparse.ArgumentParser, drain: bool = True) -> None:
    g = p.add_argument_group("worker")
    g.add_argument(
        "--worker",
        dest="nats_worker",
        metavar="I/N",
        help="this is worker I of N: it owns the partitions p with p %% N == I",
    )
    if drain:
        g.add_argument("--drain", action="store_true", help="exit 0 once its partitions are empty")
    g.add_argument("--nats-ack-wait", metavar="SECONDS", type=float, help="redelivery after (30)")
    g.add_argument("--nats-batch", metavar="N", type=int, help="messages per fetch (256)")
    g.add_argument(
        "--nats-lease-ttl", metavar="SECONDS", type=float, help="partition lease lifetime (15)"
    )


def standby_options(p: argparse.ArgumentParser, standalone: bool = True) -> None:
    g = p.add_argument_group("standby")
    g.add_argument(
        "--nats-copy-from",
        metavar="DOMAIN",
        help="the JetStream domain of the main site, whose relay fills <stream>_COPY",
    )
    if not standalone:  # check-config has the next two from the relay's options
        return
    g.add_argument(
        "--nats-replicas", metavar="N", type=int, help="replicas of this site's stream (1)"
    )
    g.add_argument("--nats-max-bytes", metavar="BYTES", type=int, help="its cap (1 GiB)")


def relay_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rrdd relay",
        description="Read Xymon's channel on stdin, as rrdd does, and publish every message to "
        "the NATS JetStream partition of its host; spool to disk while NATS cannot take them.",
        allow_abbrev=False,
    )
    connection(p)
    relay_options(p)
    return p


def worker_parser(base: Callable[[], argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = base()
    p.prog = "rrdd worker"
    p.usage = None
    p.epilog = None
    p.formatter_class = argparse.HelpFormatter
    p.description = (
        "Consume the stream's partitions p with p % N == I, write them as rrdd does, and "
        "acknowledge each message once its values are durable."
    )
    connection(p, standalone=False)
    worker_options(p)
    return p


def standby_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rrdd standby",
        description="On a standby site's NATS server: make (or check) the stream its "
        "workers read, a mirror of the main site's copy, and say how far behind it is.",
        allow_abbrev=False,
    )
    connection(p)
    standby_options(p)
    return p


def top_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rrdd top",
        description="A live table of the stream's partitions: backlog, unacknowledged, "
        "redelivered, the owning worker, the age of its last acknowledgement, messages/s.",
        allow_abbrev=False,
    )
    connection(p)
    p.add_argument("--once", action="store_true", help="print the table once and exit")
    p.add_argument(
        "--interval", metavar="SECONDS", type=float, default=1.0, help="refresh (default 1)"
    )
    return p


def check_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rrdd check",
        description="A Nagios/Xymon check: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, with "
        "performance data, on the backlog and on the workers' liveness.",
        allow_abbrev=False,
    )
    connection(p)
    p.add_argument(
        "--warning", metavar="N", type=int, default=10000, help="backlog (messages) to warn at"
    )
    p.add_argument(
        "--critical", metavar="N", type=int, default=100000, help="backlog to be critical at"
    )
    p.add_argument(
        "--stale",
        metavar="SECONDS",
        type=float,
        default=60.0,
        help="a partition with a backlog and no worker acknowledging for this long is "
        "critical; without a lease it is critical at once (default 60)",
    )
    p.add_argument(
        "--timeout", metavar="SECONDS", type=float, default=10.0, help="UNKNOWN after (10)"
    )
    return p


def send_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rrdd send",
        description="Submit messages to the stream: Xymon channel messages (@@status#...) or "
        "client lines 'status HOST.TEST COLOR text' / 'data HOST.TEST text', from MESSAGE or "
        "from stdin, one per line (or '@@'-framed).",
        allow_abbrev=False,
    )
    connection(p)
    p.add_argument("message", nargs="*", help="one message; none: read stdin")
    return p


def read_settings(args: argparse.Namespace, *, rrddir_needed: bool) -> Settings:
    """The Settings of a NATS command. One that writes no RRD file runs without one."""
    file = read_config(args.config or DEFAULT_CONFIG, required=args.config is not None)
    options = vars(args)
    try:
        return resolve_settings(options, os.environ, file)[0]
    except ConfigError as e:
        if rrddir_needed or not str(e).startswith("no RRD directory"):
            raise
    return resolve_settings({**options, "rrddir": "/"}, os.environ, file)[0]
