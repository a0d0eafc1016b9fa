"""iostat: what the golden cases cannot show: numbers scanf reads as infinite or NaN."""

from __future__ import annotations

from rrdd.channel import Message
from rrdd.context import Context
from rrdd.parsers import load_builtins

HANDLERS = load_builtins()


def test_iostat_infinite_number_is_unknown() -> None:
    body = (
        "status sol01,example,com.iostat green Tue Jan  7 10:00:00 CET 2025\n"
        "BEGINKEY\nd0 /\nENDKEY\nBEGINDATA\n"
        "  1e39 inf nan 0.05 0 0 0 0 0 0 0 0 0 0 d0\nENDDATA\n"
    )
    msg = Message(
        "status", 1, 1_736_240_400, "", "sol01.example.com", "iostat", "green", "", "", "", body
    )
    values = ("U", "U", "U", "0.1", *["0.0"] * 10)
    updates = list(HANDLERS["iostat"].parse(msg, Context()))
    assert [(u.rrd, u.values) for u in updates] == [("iostat.,root.rrd", values)]
