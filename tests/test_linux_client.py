"""A Linux client's whole report, as xymond passes it on, gives the files Xymon makes."""

from __future__ import annotations

import os
from pathlib import Path

from tests.test_cli import T0, run

DATA = Path(__file__).parent / "data"
HOST = "lnx01.example.com"
# One report of each kind a Linux client's data produces on the Xymon server.
REPORTS = (
    "la/linux",
    "disk/linux-dfPk",
    "disk/linux-inode",
    "memory/linux",
    "vmstat/linux-procps-ng",
    "netstat/linux-nettools2016",
    "ifstat/linux-nettools-2.10",
)


def report_stream() -> bytes:
    messages = []
    for seq, case in enumerate(REPORTS, 1):
        first = (DATA / f"{case}.msg").read_text().split("\n@@\n", 1)[0]
        header, _, body = first.partition("\n")
        fields = header.split("|")
        old = fields[0].split("/", 1)[1]
        fields[0] = f"@@{fields[0][2:].split('#')[0]}#{seq}/{HOST}"
        fields[1] = f"{T0}.5"
        fields[4] = HOST
        body = body.replace(old, HOST).replace(old.replace(".", ","), HOST.replace(".", ","))
        messages.append("|".join(fields) + "\n" + body + "\n@@\n")
    return "".join(messages).encode()


def test_a_linux_clients_report_gives_xymons_files(tmp_path: Path) -> None:
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    p = run(rrddir, report_stream())
    assert p.returncode == 0, p.stderr
    assert sorted(os.listdir(rrddir / HOST)) == sorted(
        [
            # cpu: load, users, processes and the clock offset line
            "la.rrd",
            "users.rrd",
            "procs.rrd",
            "clock.rrd",
            # df -Pk: tmpfs rows before the first /dev row are read as NT rows (disk,tmpfs),
            # "/srv/old share" is cut to its first word, the unreachable NFS row is skipped
            "disk,tmpfs.rrd",
            "disk,root.rrd",
            "disk,dev,shm.rrd",
            "disk,var,log.rrd",
            "disk,srv,old.rrd",
            "inode,tmpfs.rrd",
            "inode,root.rrd",
            "inode,dev,shm.rrd",
            "inode,home.rrd",
            "memory.real.rrd",
            "memory.swap.rrd",
            "memory.actual.rrd",
            "vmstat.rrd",
            "netstat.rrd",
            # bridges, VLAN interfaces and lo are not graphed
            "ifstat.docker0.rrd",
            "ifstat.enp0s3.rrd",
            "ifstat.veth3f1c2a9.rrd",
            "ifstat.wlp2s0.rrd",
        ]
    )
