"""Dropping root: rrdd opens what needs root (ports, sockets, logs), then becomes its user."""

from __future__ import annotations

import grp
import logging
import os
import pwd

from rrdd.errors import StartError

log = logging.getLogger("rrdd")


def ids(user: str | None, group: str | None) -> tuple[int, int] | None:
    """The uid and gid of `user` (with `group`, or the user's own group) when rrdd runs as
    root and must drop it; else None."""
    if os.geteuid() != 0 or not user:
        return None
    try:
        entry = pwd.getpwnam(user)
        gid = grp.getgrnam(group).gr_gid if group else entry.pw_gid
    except KeyError as e:
        raise StartError(f"no such user or group: {e.args[0]}") from None
    return entry.pw_uid, gid


def become(uid: int, gid: int) -> None:
    """Give up root for good: that uid, that gid and no other group."""
    os.setgroups([gid])
    os.setgid(gid)
    os.setuid(uid)


def drop(user: str | None, group: str | None) -> None:
    """Become `user` (with `group`, or the user's own group) when running as root."""
    target = ids(user, group)
    if target is None:
        return
    become(*target)
    log.info("Running as user %s (uid %d, gid %d)", user, *target)


def warn_if_root(user: str | None) -> None:
    """Say once per rrdd (not once per worker of --workers) that it stays root."""
    if os.geteuid() == 0 and not user:
        log.warning("rrdd runs as root; set user (and group) to have it drop root after start-up")
