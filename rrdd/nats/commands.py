"""rrdd relay, worker, top, check, send and standby: their command lines, then their work."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence

from rrdd import logsetup
from rrdd.errors import ConfigError, StartError
from rrdd.nats import options

log = logging.getLogger("rrdd")


def relay(argv: Sequence[str]) -> int:
    from rrdd.nats.relay import run_relay

    args = options.relay_parser().parse_args(argv)
    settings = options.read_settings(args, rrddir_needed=False)
    logsetup.configure(settings.log, settings.debug)
    return run_relay(settings)


def worker(argv: Sequence[str]) -> int:
    from rrdd.cli import build_parser
    from rrdd.nats.worker import run_worker

    args = options.worker_parser(build_parser).parse_args(argv)
    return run_worker(args)


def top(argv: Sequence[str]) -> int:
    from rrdd.nats.tools import top

    return top(options.top_parser().parse_args(argv))


def check(argv: Sequence[str]) -> int:
    from rrdd.nats.tools import check

    return check(options.check_parser().parse_args(argv))


def send(argv: Sequence[str]) -> int:
    from rrdd.nats.tools import send

    return send(options.send_parser().parse_args(argv))


def standby(argv: Sequence[str]) -> int:
    from rrdd.nats.standby import standby

    return standby(options.standby_parser().parse_args(argv))


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "relay": relay,
    "worker": worker,
    "top": top,
    "check": check,
    "send": send,
    "standby": standby,
}


def main(command: str, argv: Sequence[str]) -> int:
    try:
        return COMMANDS[command](argv)
    except ConfigError as e:
        print(f"rrdd {command}: {e}", file=sys.stderr)
        return 2
    except StartError as e:
        print(f"rrdd {command}: {e}", file=sys.stderr)
        return 1
