"""The NCV parser's memory of names: what a name becomes is worked out once per test and
setting, and a changed setting or a flood of names never gives a stale answer."""

from __future__ import annotations

from rrdd.channel import Message
from rrdd.context import Context
from rrdd.parsers import ncv
from rrdd.schema import Update


def run(body: str, ctx: Context, test: str = "app") -> list[Update]:
    msg = Message("status", 1, 1795312871, "192.0.2.1", "h", test, "green", "", "", "", body)
    return list(ncv.parse(msg, ctx))


def test_a_changed_setting_is_used_at_once() -> None:
    body = "status h.app green\nconns : 12\nqueue : 3\n"
    (update,) = run(body, Context(ncv={"app": "conns:GAUGE"}))
    assert update.schema.defs == ("DS:conns:GAUGE:600:U:U", "DS:queue:DERIVE:600:U:U")
    (update,) = run(body, Context(ncv={"app": "conns:NONE,*:COUNTER"}))
    assert update.schema.defs == ("DS:queue:COUNTER:600:U:U",)
    assert update.values == ("3",)


def test_one_name_read_for_ncv_and_for_splitncv() -> None:
    body = "status h.app green\nhit ratio (%) : 92.5\n"
    (ncv_update,) = run(body, Context(ncv={"app": "*:GAUGE"}))
    assert ncv_update.schema.defs == ("DS:hitratio:GAUGE:600:U:U",)
    (split_update,) = run(body, Context(splitncv={"app": "*:GAUGE"}))
    assert split_update.rrd == "app,hit_ratio.rrd"
    assert split_update.schema.defs == ("DS:lambda:GAUGE:600:U:U",)
    assert split_update.params == ("app", "hit_ratio")


def test_more_names_than_it_remembers_are_still_read_right() -> None:
    ctx = Context(splitncv={"flood": "*:GAUGE"})
    for n in range(0, ncv.KNOWN_MAX + 100, 50):
        body = "data h.flood\n" + "".join(f"n{n + i} : {i}\n" for i in range(50))
        updates = run(body, ctx, "flood")
        assert [u.rrd for u in updates] == [f"flood,n{n + i}.rrd" for i in range(50)]
        assert [u.values for u in updates] == [(str(i),) for i in range(50)]
    assert len(ncv._known("flood", "*:GAUGE", True)) <= ncv.KNOWN_MAX
