"""Pure logic: size parsing/formatting and the output-name rules (hostile names included)."""

from __future__ import annotations

import os
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gsep_cli.errors import ExitCode, UsageError
from gsep_cli.naming import (
    DEFAULT_TEMPLATE,
    TEMPLATE_FIELDS,
    check_template,
    output_path,
    safe_component,
)
from gsep_cli.units import format_size, parse_size


# ---- units.parse_size / format_size ----------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("1048576", 1048576),
        ("4096", 4096),
        ("64KiB", 64 * 1024),
        (" 64 KiB ", 64 * 1024),
        ("64kib", 64 * 1024),
        ("5MiB", 5 * 1024**2),
        ("1GiB", 1024**3),
        ("1TiB", 1024**4),
        ("1GB", 1000**3),
        ("1gb", 1000**3),
        ("2k", 2000),
        ("2kb", 2000),
        ("3M", 3 * 1000**2),
        ("7b", 7),
        ("1.5MiB", int(1.5 * 1024**2)),
    ],
)
def test_parse_size_accepts(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "text", ["", " ", "abc", "-1", "5XB", "1e3", "5 MiB extra", "MiB", "1,000", "0x10", "1..5k"]
)
def test_parse_size_rejects_with_examples(text: str) -> None:
    with pytest.raises(ValueError, match="not a size") as info:
        parse_size(text)
    assert "5MiB" in str(info.value)  # the message shows what would work


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (44144, "43.1 KiB"),
        (5 * 1024**2, "5.0 MiB"),
        (3 * 1024**3, "3.0 GiB"),
        (2 * 1024**4, "2048.0 GiB"),
    ],
)
def test_format_size(size: int, expected: str) -> None:
    assert format_size(size) == expected


# ---- transfer.safe_component -----------------------------------------------------------
@pytest.mark.parametrize(
    ("hostile", "expected"),
    [
        ("../../x", "x"),
        ("..\\..\\x", "x"),
        ("/etc/passwd", "passwd"),
        ("C:\\x", "x"),
        ("C:", "C_"),
        ("..", "_"),
        (".", "_"),
        ("", "_"),
        ("   ", "_"),
        ("a/..", "_"),
        ("x/", "_"),
        ("CON", "_CON"),
        ("CON.wav", "_CON.wav"),
        ("con.tar.gz", "_con.tar.gz"),
        ("nul", "_nul"),
        ("COM1", "_COM1"),
        ("lpt9.mp3", "_lpt9.mp3"),
        ("CONSOLE", "CONSOLE"),  # only the exact reserved names
        ("a\x00b\nc\x1bd\x7fe\tf", "abcdef"),
        ('a<b>c:d"e|f?g*h', "a_b_c_d_e_f_g_h"),
        ("name. ", "name"),
        ("name...", "name"),
        ("  spaced  ", "spaced"),
        ("héllo wörld 歌", "héllo wörld 歌"),
        ("song (live) [2024]", "song (live) [2024]"),
    ],
)
def test_safe_component_neutralises_hostile_names(hostile: str, expected: str) -> None:
    assert safe_component(hostile) == expected


def test_safe_component_uses_the_fallback_and_does_not_cut() -> None:
    # lengths are limited in bytes per rendered segment now (tests/test_naming.py)
    assert safe_component("..", fallback="track") == "track"
    assert safe_component("x" * 1000) == "x" * 1000


def _assert_safe(component: str) -> None:
    assert component
    assert component not in (".", "..")
    assert "/" not in component and "\\" not in component
    assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in component)
    assert not any(ch in component for ch in '<>:"|?*')
    assert len(component) <= 61  # never longer than its input, plus "_" for a reserved name


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60))
def test_safe_component_property(value: str) -> None:
    _assert_safe(safe_component(value))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.printable + "é歌.", max_size=40))
def test_safe_component_stays_inside_a_folder(value: str) -> None:
    root = Path("/srv/out")
    joined = os.path.normpath(root / safe_component(value))
    assert os.path.dirname(joined) == str(root)


def test_safe_component_never_ends_with_dot_or_space_after_truncation() -> None:
    assert not safe_component("a" * 149 + ". b").endswith((".", " "))


# ---- transfer.check_template -----------------------------------------------------------
@pytest.mark.parametrize(
    "template",
    [
        DEFAULT_TEMPLATE,
        "{stem}.{ext}",
        "{model}/{job}/{track}_{stem}.{ext}",
        "stems/{track} - {stem}.{ext}",
        "{track}\\{stem}.{ext}",
    ],
)
def test_check_template_accepts(template: str) -> None:
    assert check_template(template) == template


@pytest.mark.parametrize(
    "template",
    [
        "",
        "   ",
        "/abs/{stem}.{ext}",
        "\\abs\\{stem}.{ext}",
        "C:\\x\\{stem}.{ext}",
        "C:{stem}.{ext}",
        "../{stem}.{ext}",
        "..\\{stem}.{ext}",
        "a/../{stem}.{ext}",
        "a//{stem}.{ext}",
        "./{stem}.{ext}",
        "{track}/{stem}.{ext}/",
        "{nope}/{stem}.{ext}",
        "{track}/{Stem}.{ext}",
        "{}.{ext}",
    ],
)
def test_check_template_rejects(template: str) -> None:
    with pytest.raises(UsageError) as info:
        check_template(template)
    assert info.value.exit_code == ExitCode.USAGE
    assert "--name-template" in info.value.message


def test_check_template_names_the_known_fields() -> None:
    with pytest.raises(UsageError) as info:
        check_template("{artist}/{stem}.{ext}")
    assert "{artist}" in info.value.message
    for name in TEMPLATE_FIELDS:
        assert "{" + name + "}" in (info.value.hint or "")


# ---- transfer.output_path --------------------------------------------------------------
FIELDS = {"track": "song", "stem": "vocal", "ext": "wav", "model": "gsep_music_hq_v1", "job": "j1"}


def test_output_path_default_layout(tmp_path: Path) -> None:
    assert output_path(tmp_path, DEFAULT_TEMPLATE, FIELDS) == tmp_path / "song" / "vocal.wav"


def test_output_path_all_fields(tmp_path: Path) -> None:
    path = output_path(tmp_path, "{model}/{job}/{track}-{stem}.{ext}", FIELDS)
    assert path == tmp_path / "gsep_music_hq_v1" / "j1" / "song-vocal.wav"


@pytest.mark.parametrize(
    ("track", "expected_dir"),
    [
        ("../../x", "x"),
        ("..\\..\\x", "x"),
        ("/etc/passwd", "passwd"),
        ("C:\\x", "x"),
        ("CON", "_CON"),
        ("..", "_"),
        ("", "_"),
        ("evil\x00\n", "evil"),
    ],
)
def test_output_path_hostile_track_stays_inside(
    tmp_path: Path, track: str, expected_dir: str
) -> None:
    path = output_path(tmp_path, DEFAULT_TEMPLATE, {**FIELDS, "track": track})
    assert path == tmp_path / expected_dir / "vocal.wav"
    assert tmp_path.resolve() in path.resolve().parents


@pytest.mark.parametrize("stem", ["../../../etc/cron.d/x", "..\\..\\x", "/etc/passwd", "CON"])
def test_output_path_hostile_stem_and_ext_stay_inside(tmp_path: Path, stem: str) -> None:
    path = output_path(tmp_path, DEFAULT_TEMPLATE, {**FIELDS, "stem": stem, "ext": "../wav"})
    assert path.parent == tmp_path / "song"
    assert "/" not in path.name and "\\" not in path.name


def test_output_path_reserved_name_after_rendering(tmp_path: Path) -> None:
    # each rendered segment is checked again: "{stem}" = "CON" + ".wav" is still reserved
    path = output_path(tmp_path, "{stem}.{ext}", {**FIELDS, "stem": "con"})
    assert path.name == "_con.wav"


def test_output_path_missing_field_uses_fallback(tmp_path: Path) -> None:
    path = output_path(tmp_path, "{job}/{stem}.{ext}", {"stem": "vocal", "ext": "wav"})
    assert path == tmp_path / "_" / "vocal.wav"


def test_output_path_refuses_a_symlink_that_leaves_the_folder(tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "song").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(UsageError, match="would leave the output folder"):
        output_path(out, DEFAULT_TEMPLATE, FIELDS)


@settings(max_examples=200, deadline=None)
@given(
    track=st.text(max_size=30),
    stem=st.text(max_size=20),
    ext=st.text(alphabet="abc./\\:", max_size=6),
)
def test_output_path_property_never_escapes(track: str, stem: str, ext: str) -> None:
    root = Path("/nonexistent-gsep-root/out")
    path = output_path(root, DEFAULT_TEMPLATE, {**FIELDS, "track": track, "stem": stem, "ext": ext})
    assert path.parent.parent == root
    normal = os.path.normpath(path)
    assert normal.startswith(str(root) + os.sep)
