"""The writer under random operations, on real RRD files: after each one its records
keep their invariants (table.FileTable.check, and every made file holding values has a
turn to come), and at the end every value it accepted is in the files, under the names
the drops and renames left it, and nothing else is."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import rrdtool
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rrdd.events import Counts
from rrdd.schema import Schema, Update
from rrdd.writer.rrdwriter import RrdWriter
from rrdd.writer.schedule import CachePolicy
from rrdd.xymoncfg import RraDefinitions

NOW = 1795312800
GAUGE = Schema.of("DS:v:GAUGE:600:U:U")
HOSTS = ("h1", "h2", "h3")
FILES = ("a.rrd", "b.rrd", "c.rrd")

operations = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(HOSTS), st.sampled_from(FILES)),
    st.tuples(st.just("sync"), st.integers(0, 3)),
    st.tuples(st.just("flush"), st.sampled_from((*HOSTS, None))),
    st.tuples(st.just("drophost"), st.sampled_from(HOSTS)),
    st.tuples(st.just("renamehost"), st.sampled_from(HOSTS)),
    st.tuples(st.just("droptest"), st.sampled_from(HOSTS), st.sampled_from(FILES)),
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def check(w: RrdWriter) -> None:
    w.table.check()
    for f in w.table:
        if f.pending and f.made:
            assert w.schedule.knows(f), f"{f.host}/{f.name} holds values without a turn"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operations, max_size=40), st.booleans(), st.booleans())
def test_random_operations_keep_the_invariants_and_every_value(
    ops: list[tuple[object, ...]], cache: bool, ceiling: bool
) -> None:
    top = Path(tempfile.mkdtemp())
    try:
        rrddir = top / "rrd"
        rrddir.mkdir()
        clock = Clock()
        policy = CachePolicy(batch=3, max_age=2.0, writes_per_second=2.0 if ceiling else 0.0)
        w = RrdWriter(
            rrddir,
            RraDefinitions.load(None),
            Counts(),
            cache=cache,
            policy=policy,
            clock=lambda: NOW,
            monotonic=clock,
        )
        model: dict[tuple[str, str], tuple[int, float]] = {}  # file -> its newest value
        renamed = 0
        for i, op in enumerate(ops):
            kind = op[0]
            if kind == "write":
                host, name = str(op[1]), str(op[2])
                stamp = NOW + 60 * (i + 1)
                w.write(host, "t", stamp, Update(name, GAUGE, (str(i),)))
                model[host, name] = (stamp, float(i))
            elif kind == "sync":
                clock.now += float(op[1])  # type: ignore[arg-type]
                w.sync()
            elif kind == "flush":
                w.flush(op[1] if op[1] is None else str(op[1]))
            elif kind == "drophost":
                w.drop_host(str(op[1]))
                model = {k: v for k, v in model.items() if k[0] != op[1]}
            elif kind == "renamehost":
                renamed += 1
                new = f"r{renamed}"  # a name nothing has used
                w.rename_host(str(op[1]), new)
                model = {(new if h == op[1] else h, n): v for (h, n), v in model.items()}
            elif kind == "droptest":
                w.drop_files(str(op[1]), [str(op[2])])
                model.pop((str(op[1]), str(op[2])), None)
            check(w)
        w.close()
        assert w.pending() == 0
        on_disk = {
            (host, name)
            for host in os.listdir(rrddir)
            if not host.startswith(".")
            for name in os.listdir(rrddir / host)
        }
        assert on_disk == set(model)
        for (host, name), (stamp, value) in model.items():
            info = rrdtool.lastupdate(str(rrddir / host / name))
            assert (int(info["date"].timestamp()), info["ds"]["v"]) == (stamp, value)
    finally:
        shutil.rmtree(top)
