"""Every handler carries its manual, its schema, golden cases and its man-page entry."""

from __future__ import annotations

import functools
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

from rrdd.channel import ChannelParser, Message
from rrdd.cli import build_parser
from rrdd.config import KEYS
from rrdd.daemon import make_routes
from rrdd.parsers import load_builtins, register
from rrdd.schema import Schema
from rrdd.settings import load_settings
from tests.test_golden import CASES, read_env

ROOT = Path(__file__).parent.parent
MAN = (ROOT / "man/rrdd.8").read_text()
HANDLERS = load_builtins()
MODULES = sorted({h.module for h in HANDLERS.values()})


def man_section(name: str) -> str:
    m = re.search(rf"^\.SH {name}\n(.*?)(?=^\.SH )", MAN, re.M | re.S)
    assert m, f"man/rrdd.8 has no {name} section"
    return m.group(1)


@functools.cache
def routed_ids() -> dict[str, list[str]]:
    """handler id -> the golden cases whose messages reach it."""
    seen: dict[str, list[str]] = {}
    for case in CASES:
        env = {"XYMONRRDS": "/x", **read_env(case.with_suffix(".env"))}
        routes = make_routes(load_settings({}, env))
        for item in ChannelParser().feed(case.read_bytes()):
            if isinstance(item, Message) and "R" not in item.flags:  # reverse: no data
                seen.setdefault(routes.handler_id(item.testname), []).append(case.stem)
    return seen


@pytest.mark.parametrize("module", MODULES)
def test_module_docstring_is_its_manual(module: str) -> None:
    doc = sys.modules[module].__doc__ or ""
    assert "Handles:" in doc, f"{module}: docstring lacks 'Handles:'"
    assert "Writes:" in doc, f"{module}: docstring lacks 'Writes:'"
    assert "::" in doc, f"{module}: docstring lacks a sample body (a '::' block)"


@pytest.mark.parametrize("module", MODULES)
def test_module_declares_its_schema(module: str) -> None:
    mod = sys.modules[module]
    schemas = [v for v in vars(mod).values() if isinstance(v, Schema)]
    dynamic = "from the message" in (mod.__doc__ or "")
    assert schemas or dynamic, f"{module}: no Schema constant and no 'DS ... from the message'"
    for schema in schemas:
        for d in schema.defs:
            assert re.fullmatch(r"DS:\w{1,19}:[A-Z]+:\d+:[^:]+:[^:]+", d), f"{module}: {d!r}"


@pytest.mark.parametrize("hid", sorted(HANDLERS))
def test_every_handler_id_has_a_golden_case(hid: str) -> None:
    assert routed_ids().get(hid), f"no golden case in tests/data reaches handler {hid!r}"


@pytest.mark.parametrize("hid", sorted(HANDLERS))
def test_every_handler_id_is_in_the_man_page(hid: str) -> None:
    entries = re.findall(r"^\.B (.+)$", man_section("HANDLERS"), re.M)
    ids = {i.strip() for entry in entries for i in entry.split(",")}
    assert hid in ids, f"man/rrdd.8 HANDLERS has no entry for {hid!r}"


def test_every_option_is_in_the_man_page() -> None:
    options = man_section("OPTIONS").replace("\\-", "-")
    for action in build_parser()._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag != "--help":
                assert flag in options, f"man/rrdd.8 OPTIONS lacks {flag}"


def test_each_handler_id_belongs_to_one_module() -> None:
    # From the handlers' own id lists: an id two modules claim shows twice, even though
    # the registry's dict keeps only the one registered last.
    claims = Counter(i for handler in set(HANDLERS.values()) for i in handler.ids)
    assert [i for i, n in claims.items() if n > 1] == []
    assert all(hid in handler.ids for hid, handler in HANDLERS.items())


def test_an_id_registered_twice_stops_the_import() -> None:
    taken = HANDLERS["la"]
    with pytest.raises(ValueError, match="'la' registered twice"):
        register("la", files=())(lambda msg, ctx: ())
    assert HANDLERS["la"] is taken


def test_every_file_setting_is_in_rrdd_conf_5() -> None:
    conf = (ROOT / "man/rrdd.conf.5").read_text().replace("\\-", "-")
    for key in [*KEYS, "config_dir"]:
        assert re.search(rf"\b{key}\b", conf), f"man/rrdd.conf.5 lacks {key}"
