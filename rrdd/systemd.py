"""Telling systemd how rrdd is doing: the sd_notify(3) protocol, with the standard library.

Under a ``Type=notify`` unit systemd puts the address of a datagram socket in
$NOTIFY_SOCKET: a path, or a name in Linux's abstract namespace written with a leading
``@``. A message is one datagram of ``NAME=VALUE`` lines::

    READY=1                        start-up is over; systemctl start returns
    STATUS=flushing 1200/5000 files  free text shown by systemctl status
    STOPPING=1                     the stop has begun (the final flush may take long)
    WATCHDOG=1                     still alive; due every `watchdog_interval()` seconds

Outside systemd, or under xymonlaunch, $NOTIFY_SOCKET is unset and `notify` does nothing.
Under the unit in extras/, xymond_channel is systemd's main process and rrdd its child;
``NotifyAccess=all`` lets rrdd's messages count.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("rrdd")

# A stuck service manager must not stall the main loop for long; a lost message only
# delays systemd's view of rrdd.
SEND_TIMEOUT = 2.0


def notify(*fields: str) -> bool:
    """Send `fields` (``"READY=1"``, ``"STATUS=..."``) to systemd in one datagram.

    Returns True when the datagram was sent; False when there is no $NOTIFY_SOCKET (or
    one this function cannot use) or the send failed. It never raises.
    """
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not fields or len(address) < 2 or address[0] not in "/@":
        return False  # unset, or a kind this code does not speak (vsock:...)
    if address[0] == "@":
        address = "\0" + address[1:]
    # A newline inside a field would start a field of its own: a STATUS text holding
    # "\nREADY=1" must not tell systemd that rrdd is ready.
    text = "\n".join(field.replace("\n", " ") for field in fields)
    data = text.encode("utf-8", "replace")  # surrogates from undecodable input too
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.settimeout(SEND_TIMEOUT)
            sock.sendto(data, address)
    except (OSError, ValueError) as e:
        log.debug("Cannot notify systemd at %s: %s", os.environ.get("NOTIFY_SOCKET"), e)
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds between two ``WATCHDOG=1``, or None when systemd expects none from us.

    That is half of $WATCHDOG_USEC, as sd_watchdog_enabled(3) advises, when $WATCHDOG_PID
    is unset or names this process. systemd sets it to its main process, so rrdd running
    as the child of xymond_channel gets None.
    """
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID")
    try:
        if pid is not None and int(pid) != os.getpid():
            return None
        value = int(usec)
    except ValueError:
        return None
    return value / 2e6 if value > 0 else None
