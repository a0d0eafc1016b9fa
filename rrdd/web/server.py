"""`rrdd web`: its command line, and the waitress server that runs the application.

    rrdd web [--config=FILE] [--rrddir=DIR] [--listen=HOST:PORT] [--graphscfg=FILE]
             [--state-dir=DIR] [--debug]

The settings come from the same places as rrdd's (command line, environment, the TOML
file), so the web reads the rrddir, cache_age and state_dir the ingest processes use.
It listens on 127.0.0.1:8468 unless told otherwise: the pages show host names and message
excerpts, so a wider address belongs behind a proxy that asks who is looking.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import waitress

from rrdd import logsetup
from rrdd.config import read_config
from rrdd.errors import ConfigError
from rrdd.settings import Settings, resolve_settings, split_address
from rrdd.web.app import WebApp

log = logging.getLogger("rrdd.web")

THREADS = 4  # requests served at once; librrd draws one graph at a time anyway


def build_parser(default_config: Path) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rrdd web",
        description="Serve a read-only web view of the RRD tree: hosts, graphs (as Xymon's "
        "graphs.cfg draws them, or of every data source), files, and what rrdd refused.",
        allow_abbrev=False,
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help=f"configuration file (default: {default_config}, when it exists)",
    )
    p.add_argument("--rrddir", metavar="DIR", help="RRD directory (default: $XYMONRRDS)")
    p.add_argument(
        "--listen", metavar="HOST:PORT", help="address to serve on (default 127.0.0.1:8468)"
    )
    p.add_argument(
        "--graphscfg",
        metavar="FILE",
        help="Xymon's graphs.cfg (default: $XYMONHOME/etc/graphs.cfg, when it exists)",
    )
    p.add_argument(
        "--state-dir",
        metavar="DIR",
        help="where rrdd writes what it refused (default: $XYMONTMP/rrdd)",
    )
    p.add_argument("--debug", action="store_true", help="log debugging detail")
    return p


def main(argv: Sequence[str], default_config: Path) -> int:
    args = build_parser(default_config).parse_args(argv)
    try:
        file = read_config(args.config or default_config, required=args.config is not None)
        settings, _ = resolve_settings(vars(args), os.environ, file)
        logsetup.configure(settings.log, settings.debug)
        host, port = split_address(settings.web_listen)
    except ConfigError as e:
        print(f"rrdd web: {e}", file=sys.stderr)
        return 2
    if not settings.rrddir.is_dir():
        print(f"rrdd web: RRD directory {settings.rrddir} does not exist", file=sys.stderr)
        return 1
    return serve(settings, host, port)


def serve(settings: Settings, host: str, port: int) -> int:
    try:
        server = waitress.create_server(
            WebApp(settings), host=host, port=port, threads=THREADS, ident="rrdd"
        )
    except OSError as e:
        log.error("Cannot serve on %s: %s", settings.web_listen, e.strerror or e)
        return 1
    shown = f"[{host}]" if ":" in host else host
    log.info(
        "Serving %s on http://%s:%s/ (graphs.cfg: %s; problems from %s)",
        settings.rrddir,
        shown,
        server.effective_port,
        settings.graphscfg or "none",
        settings.state_dir or "nowhere: no state_dir",
    )
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
