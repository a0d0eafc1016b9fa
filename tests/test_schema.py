"""schema.py: the DS names a Schema reads from Xymon's DS strings, and the name rules."""

from __future__ import annotations

import dataclasses

import pytest

from rrdd.schema import Schema, unfit_for_librrd, unsafe_host, unsafe_name, unsafe_path


def test_ds_names_and_template_come_from_the_ds_strings() -> None:
    # An --extra-script may print a DS line that is not a definition: it gets no name.
    s = Schema.of("DS:la:GAUGE:600:U:U", "DS:x:GAUGE", "DS:y", "junk")
    assert s.names == ("la", "x", "", "")
    assert s.template == "la:x::"


def test_a_schema_cannot_be_changed_by_one_of_its_users() -> None:
    # A parser's schema is module data, shared by every file of that kind.
    s = Schema.of("DS:la:GAUGE:600:U:U")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.defs = ("DS:other:GAUGE:600:U:U",)  # type: ignore[misc]
    assert s.names == ("la",)


def test_a_refused_name_is_quoted_cut_to_eighty_characters() -> None:
    # The reason goes into a log line; a hostile name must not fill it.
    slashed = "a/" + "b" * 200
    assert unsafe_name(slashed) == f"the name {slashed[:80]!r} contains '/' or NUL"
    undecodable = "\udcff" + "c" * 200
    assert unsafe_name(undecodable) == f"the name {undecodable[:80]!r} is not valid UTF-8"


def test_the_limits_are_the_file_systems() -> None:
    # Linux: NAME_MAX 255 bytes per component, PATH_MAX 4096 with the closing NUL.
    assert unsafe_name("é" * 127 + "x") is None  # 255 bytes
    assert unsafe_name("é" * 128) == "the name is 256 bytes long (at most 255)"
    assert unsafe_path("/" + "p" * 4094) is None
    assert unsafe_path("/" + "p" * 4095) == "the path is 4096 bytes long (at most 4095)"
    assert unsafe_path("/" + "p" * 5000) == "the path is 5001 bytes long (at most 4095)"


def test_what_librrd_must_not_get_is_named_cut_to_eighty_characters() -> None:
    long = "x" * 200
    assert unfit_for_librrd(long + "\0") == f"{long[:80]!r} holds a NUL"
    assert unfit_for_librrd(long + "\n") == f"{long[:80]!r} holds a newline"
    assert unfit_for_librrd(long + "\udcff") == f"{long[:80]!r} holds bytes that are not UTF-8"
    assert unsafe_host("." + long) == f"the host name {('.' + long)[:80]!r} starts with '.'"
