"""counts: registration per handler id (droptest patterns) and values librrd accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
import rrdtool

from rrdd.parsers import load_builtins, matching_files
from rrdd.parsers.counts import KINDS, stored

NAMES = [
    "processes.sshd.rrd",
    "ports.ssh.rrd",
    "filesizes.,var,log,messages.rrd",
    "lines.,var,log,messages#errors.rrd",
    "deltalines.,var,log,messages#errors.rrd",
    "la.rrd",
]


@pytest.mark.parametrize("hid", list(KINDS))
def test_each_id_claims_only_its_own_files(hid: str) -> None:
    handler = load_builtins()[hid]
    assert handler.ids == (hid,)
    assert handler.module == "rrdd.parsers.counts"
    prefix = KINDS[hid][0]
    assert [n for n, _ in matching_files(handler, hid, NAMES)] == [
        n for n in NAMES if n.startswith(prefix + ".")
    ]


@pytest.mark.parametrize("text", ["5", " 5", "5 ", "\t5\t", "5\r"])
@pytest.mark.parametrize("hid", ["linecounts", "proccounts"])
def test_blanks_around_a_value_do_not_lose_it(hid: str, text: str, tmp_path: Path) -> None:
    schema = KINDS[hid][1]
    path = str(tmp_path / "x.rrd")
    rrdtool.create(path, "-b", "1795312500", "-s", "300", *schema.defs, "RRA:LAST:0.5:1:10")
    rrdtool.update(path, "-t", schema.template, f"1795312800:{stored(text)}")
    assert rrdtool.lastupdate(path)["ds"] == {"count": 5}


def test_an_empty_value_is_unknown() -> None:
    assert stored(" \t") == "U"
