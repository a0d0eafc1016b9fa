"""The rrdd command: xymond_rrd's options with Xymon's spellings, then the main loop.

    xymond_channel --channel=status rrdd --rrddir=/var/lib/xymon/rrd

Exit codes: 0 after a clean shutdown; 1 when something rrdd was told to use cannot be
used at start (the RRD directory, rrdcached, the flush socket, the user, the processes
that create files), when a worker of --workers dies, or when files were lost because
no process could be started to create them; 2 for a bad option, setting or
configuration file. A metrics
port that cannot be had is not among them: it is logged and tried again (sharing.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rrdd import __version__, logsetup, privileges, shards
from rrdd.config import read_config
from rrdd.daemon import load_rras
from rrdd.errors import ConfigError, StartError
from rrdd.events import Counts
from rrdd.flush import OTHER_TIMEOUT, request_flush
from rrdd.nats import options as nats_options
from rrdd.settings import Settings, resolve_settings
from rrdd.snmpmibs import load_mibs
from rrdd.startup import (
    check_rrddir,
    lost_creates,
    start_creators,
    start_daemon,
    start_metrics,
    start_watcher,
    writer_gauges,
)
from rrdd.xymoncfg import RraDefinitions

log = logging.getLogger("rrdd")

DEFAULT_CONFIG = nats_options.DEFAULT_CONFIG
NATS_COMMANDS = nats_options.COMMANDS
COMMANDS = f"""\
  rrdd flush [HOST [FILE]]     have every rrdd of this Xymon write what it holds for
                               HOST (or FILE of it, or all) now; in Xymon's
                               environment: xymoncmd rrdd flush HOST
  rrdd check-config [OPTIONS]  print every setting in use and where it came from
  rrdd web [OPTIONS]           serve a read-only web view of the RRD tree: graphs,
                               files, stale files and what rrdd refused
{NATS_COMMANDS}
  rrdd help [COMMAND]          this help, or a command's (rrdd COMMAND --help)"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rrdd",
        usage="%(prog)s [OPTIONS]\n       %(prog)s COMMAND ...",
        description="Write Xymon status and data messages from stdin into RRD files\n"
        "(a drop-in replacement for xymond_rrd).",
        epilog=f"commands:\n{COMMANDS}\n\n"
        "environment:\n  XYMONRRDS (BBRRDS), XYMONTMP (BBTMP), XYMONHOME, TEST2RRD, PINGCOLUMN,\n"
        "  NCV_<test>, SPLITNCV_<test>, TRACKMAX, RRDDISKS, NORRDDISKS, XYMONNETSVCS,\n"
        "  XYMONCHANNEL_LOGFILENAME, MAXMSG_<channel>. See rrdd(8) and rrdd.conf(5).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help=f"configuration file (default: {DEFAULT_CONFIG}, when it exists)",
    )
    p.add_argument("--rrddir", metavar="DIR", help="RRD directory (default: $XYMONRRDS)")
    p.add_argument(
        "--rrddefinitions",
        metavar="FILE",
        help="RRA definitions (default: $XYMONHOME/etc/rrddefinitions.cfg, "
        "else Xymon's built-in four AVERAGE RRAs)",
    )
    p.add_argument("--no-cache", action="store_true", help="write every update at once")
    p.add_argument("--no-rrd", action="store_true", help="create RRD files but write no values")
    p.add_argument("--debug", action="store_true", help="log debugging detail")
    p.add_argument("--extra-script", metavar="FILE", help="script that reads the --extra-tests")
    p.add_argument("--extra-tests", metavar="TEST[,TEST]", help="tests read by --extra-script")
    p.add_argument(
        "--extra-timeout", metavar="SECONDS", type=float, help="kill a script after (default 30)"
    )
    p.add_argument("--extra-workers", metavar="N", type=int, help="scripts at once (default 4)")
    p.add_argument(
        "--extra-persistent",
        action="store_true",
        help="start the script once and send it every message on stdin",
    )
    p.add_argument("--processor", metavar="CMD", help="copy every update to CMD's stdin")
    p.add_argument(
        "--rrdcached",
        metavar="ADDRESS",
        help="send updates to rrdcached at unix:/path or host:port (default: $RRDCACHED_ADDRESS)",
    )
    p.add_argument(
        "--cache-age",
        metavar="SECONDS",
        type=float,
        help="write a file whose oldest cached value is this old (default 3600, +0-20%%)",
    )
    p.add_argument(
        "--writes-per-second", metavar="N", type=float, help="cap on cache writes (default none)"
    )
    p.add_argument(
        "--creates-per-second", metavar="N", type=float, help="cap on new files (default none)"
    )
    p.add_argument(
        "--create-workers", metavar="N", type=int, help="processes creating files (default 2)"
    )
    p.add_argument(
        "--workers",
        metavar="N",
        type=int,
        help="spread the hosts over N processes, to use N cores (default 1)",
    )
    p.add_argument("--metrics-listen", metavar="HOST:PORT", help="serve Prometheus /metrics")
    p.add_argument("--user", help="drop root to this user after start-up")
    p.add_argument("--group", help="and to this group (default: the user's)")
    p.add_argument("--version", action="version", version=f"rrdd {__version__}")
    return p


def flush_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rrdd flush",
        description="Ask every rrdd of this Xymon to write the values it holds for HOST "
        "(or one FILE of it, or everything), through the rrdctl sockets in $XYMONTMP, "
        "and wait for the answers.",
        allow_abbrev=False,
    )
    p.add_argument("host", nargs="?")
    p.add_argument("file", nargs="?")
    p.add_argument("--tmpdir", metavar="DIR", help="where the sockets are (default: $XYMONTMP)")
    p.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=30.0,
        help="seconds to wait for rrdd (default 30)",
    )
    p.add_argument(
        "--other-timeout",
        metavar="SECONDS",
        type=float,
        default=OTHER_TIMEOUT,
        help="seconds to wait for a socket that is not rrdd's, such as xymond_rrd's, which "
        f"never answers (default {OTHER_TIMEOUT:g})",
    )
    return p


def flush_command(argv: Sequence[str]) -> int:
    """rrdd flush [HOST [FILE]]: have every running rrdd write what it holds, and wait."""
    args = flush_parser().parse_args(argv)
    tmpdir = args.tmpdir or os.environ.get("XYMONTMP") or os.environ.get("BBTMP")
    if not tmpdir:
        print("rrdd flush: give --tmpdir=DIR or set XYMONTMP", file=sys.stderr)
        return 2
    try:
        answers = request_flush(
            Path(tmpdir), args.host, args.file, args.timeout, args.other_timeout
        )
    except ConfigError as e:
        print(f"rrdd flush: {e}", file=sys.stderr)
        return 2
    except StartError as e:
        print(f"rrdd flush: {e}", file=sys.stderr)
        return 1
    for answer in answers:
        print(answer)
    if not answers:
        print(f"rrdd flush: no rrdd answered in {tmpdir}", file=sys.stderr)
    return 0 if answers else 1


def read_settings(args: argparse.Namespace) -> tuple[Settings, dict[str, str], tuple[Path, ...]]:
    """The Settings from the command line, environment and file, with their origins."""
    file = read_config(args.config or DEFAULT_CONFIG, required=args.config is not None)
    settings, origins = resolve_settings(vars(args), os.environ, file)
    return settings, origins, file.files


def check_config_parser() -> argparse.ArgumentParser:
    p = build_parser()
    p.prog = "rrdd check-config"
    p.usage = None
    p.description = (
        "Check the configuration and print every setting, in TOML's spelling, with where "
        "it came from: the command line, the environment, FILE:LINE or its default."
    )
    p.epilog = None
    p.formatter_class = argparse.HelpFormatter
    nats_options.connection(p, standalone=False)
    nats_options.relay_options(p, standalone=False)
    nats_options.worker_options(p, drain=False)
    nats_options.standby_options(p, standalone=False)
    return p


def check_config_command(argv: Sequence[str]) -> int:
    """rrdd check-config [OPTIONS]: print every setting in effect and where it came from."""
    args = check_config_parser().parse_args(argv)
    try:
        settings, origins, files = read_settings(args)
        load_rras(settings)
    except ConfigError as e:
        print(f"rrdd check-config: {e}", file=sys.stderr)
        return 2
    print(f"# read: {', '.join(map(str, files))}" if files else "# read: no configuration file")
    for name, value in settings.model_dump().items():
        print(f"{name} = {_toml(value)}  # {origins.get(name, 'default')}")
    problem = check_rrddir(settings)
    if problem:
        print(f"rrdd check-config: {problem}", file=sys.stderr)
        return 1
    return 0


def _toml(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))


def web_parser() -> argparse.ArgumentParser:
    from rrdd.web.server import build_parser as web  # Jinja2 and waitress: only for the web

    return web(DEFAULT_CONFIG)


def help_command(argv: Sequence[str]) -> int:
    """rrdd help [COMMAND]: rrdd's help, or a command's."""
    parsers = {
        "flush": flush_parser,
        "check-config": check_config_parser,
        "web": web_parser,
        "relay": nats_options.relay_parser,
        "worker": lambda: nats_options.worker_parser(build_parser),
        "top": nats_options.top_parser,
        "check": nats_options.check_parser,
        "send": nats_options.send_parser,
        "standby": nats_options.standby_parser,
        "help": build_parser,
    }
    if len(argv) > 1 or (argv and argv[0] not in parsers):
        print(
            f"rrdd help: no command {' '.join(argv)!r}; the commands are:\n{COMMANDS}",
            file=sys.stderr,
        )
        return 2
    parsers[argv[0] if argv else "help"]().print_help()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and not argv[0].startswith("-") else None
    if command == "flush":
        return flush_command(argv[1:])
    if command == "check-config":
        return check_config_command(argv[1:])
    if command == "web":
        from rrdd.web.server import main as web  # only here: ingest never loads the web

        return web(argv[1:], DEFAULT_CONFIG)
    if command == "help":
        return help_command(argv[1:])
    if command in ("relay", "worker", "top", "check", "send", "standby"):
        return nats_command(command, argv[1:])
    if command is not None:
        print(f"rrdd: no command {command!r}; the commands are:\n{COMMANDS}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    try:
        settings, _, files = read_settings(args)
        rras = load_rras(settings)
        load_mibs(settings.snmpmibs)  # a bad file is a configuration error: exit 2
        logsetup.configure(settings.log, settings.debug)
    except ConfigError as e:
        print(f"rrdd: {e}", file=sys.stderr)
        return 2
    try:
        return run_daemon(settings, rras, lambda: read_settings(args)[0], files)
    except StartError as e:
        log.error("%s", e)
        return 1


def nats_command(command: str, argv: list[str]) -> int:
    """rrdd relay, worker, top, check, send, standby: only these load the NATS client."""
    try:
        from rrdd.nats import commands
    except ImportError as e:
        print(f"rrdd {command}: {e}: install rrdd[nats] (nats-py)", file=sys.stderr)
        return 2
    return commands.main(command, argv)


def run_daemon(
    settings: Settings,
    rras: RraDefinitions,
    rebuild: Callable[[], Settings],
    config_files: tuple[Path, ...],
) -> int:
    """Start up in order (what needs root first), read the channel, shut down.

    `rebuild` reads the settings again, for a reload; `config_files` were read for them.
    """
    if settings.workers > 1:
        return shards.run_router(settings, rras, rebuild, config_files)
    counts = Counts()
    creators = start_creators(settings, counts)
    shared = start_metrics(settings, counts)
    metrics = shared.metrics if shared else None
    daemon, writer, processor = start_daemon(settings, rras, rebuild, counts, metrics, creators)
    privileges.warn_if_root(settings.user)
    watcher = start_watcher(settings, config_files, daemon.request_reload)
    if shared is not None:
        writer_gauges(shared.metrics, writer, lambda: daemon.last_message)
        shared.start()
    try:
        daemon.run(sys.stdin.fileno())
    finally:
        watcher.stop()
        if processor:
            processor.close()
        if shared:
            shared.close()
    return lost_creates(writer)
