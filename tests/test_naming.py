"""Output names in bytes: NAME_MAX per component, PATH_MAX per path, {track} shortened
(never {stem}, {ext} or the template's text), temporary names of a fixed length, and the
{dir} and {trackext} fields, and the plan that refuses two outputs on one path."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from clitools import make_wav
from hypothesis import given, settings
from hypothesis import strategies as st

from gsep_cli import naming
from gsep_cli.client import GsepClient
from gsep_cli.download import Downloader
from gsep_cli.errors import ExitCode, UsageError
from gsep_cli.naming import (
    DEFAULT_TEMPLATE,
    TEMP_NAME_BYTES,
    InputFields,
    case_insensitive,
    check_template,
    leftover_temps,
    name_bytes,
    name_max,
    output_path,
    output_paths,
    plan_outputs,
    refuse_collisions,
    safe_component,
    temp_path,
    template_values,
)
from gsep_cli.sandbox import Sandbox

FIELDS = {"track": "song", "stem": "vocal", "ext": "wav", "model": "gsep_music_hq_v1", "job": "j1"}
FLAT = "{track}_{stem}.{ext}"
HASHED = re.compile(r"~[0-9a-f]{6}")


def render(out: Path, template: str, **fields: str) -> Path:
    return output_path(out, template, {**FIELDS, **fields})


# ---- long names ---------------------------------------------------------------------------
def test_a_200_character_track_is_kept_whole_with_its_stem_and_ext(tmp_path: Path) -> None:
    # it used to be cut to 150 characters, taking "_vocal.wav" with it
    track = "x" * 200
    assert render(tmp_path, FLAT, track=track).name == track + "_vocal.wav"


def test_80_hangul_characters_make_a_legal_250_byte_name(tmp_path: Path) -> None:
    track = "한" * 80  # 240 bytes in UTF-8
    path = render(tmp_path, FLAT, track=track)
    assert path.name == track + "_vocal.wav"
    assert name_bytes(path.name) == 250


@pytest.mark.parametrize("track", ["y" * 300, "한" * 100, "é" * 200, "🎵" * 70, "\udcff" * 300])
def test_a_track_over_the_limit_is_cut_in_bytes_and_hashed(tmp_path: Path, track: str) -> None:
    path = render(tmp_path, FLAT, track=track)
    assert name_bytes(path.name) <= name_max(tmp_path)
    assert path.name.endswith("_vocal.wav")
    head, digest = path.name[: -len("_vocal.wav")].rsplit("~", 1)
    assert re.fullmatch(r"[0-9a-f]{6}", digest)
    assert track.startswith(head)  # cut at a character boundary, nothing else changed
    assert name_bytes(path.name) > name_max(tmp_path) - 4  # and no shorter than it must be


def test_long_tracks_sharing_a_start_stay_apart(tmp_path: Path) -> None:
    first = render(tmp_path, FLAT, track="z" * 300 + " (live)")
    second = render(tmp_path, FLAT, track="z" * 300 + " (studio)")
    assert first != second
    assert first.name.endswith("_vocal.wav") and second.name.endswith("_vocal.wav")


def test_a_cut_ending_in_dots_or_spaces_is_stripped_before_the_hash(tmp_path: Path) -> None:
    path = render(tmp_path, FLAT, track="a" * 200 + ". " * 20 + "b" * 100)
    assert HASHED.search(path.name)
    assert path.name.startswith("a" * 200 + "~")


def test_a_folder_made_of_the_track_alone_is_shortened_too(tmp_path: Path) -> None:
    path = render(tmp_path, "{track}/{stem}.{ext}", track="w" * 1000)
    assert name_bytes(path.parent.name) <= name_max(tmp_path)
    assert HASHED.search(path.parent.name)
    assert path.name == "vocal.wav"


def test_every_occurrence_of_track_in_a_segment_shares_the_room(tmp_path: Path) -> None:
    path = render(tmp_path, "{track}-{track}.{ext}", track="q" * 200)
    assert name_bytes(path.name) <= name_max(tmp_path)
    assert path.name.endswith(".wav") and path.name.count("~") == 2


def test_a_short_track_is_never_hashed(tmp_path: Path) -> None:
    assert render(tmp_path, FLAT).name == "song_vocal.wav"


def test_text_and_fields_other_than_track_are_never_cut(tmp_path: Path) -> None:
    literal = "L" * 250
    with pytest.raises(UsageError) as info:
        render(tmp_path, literal + "{stem}.{ext}")
    assert info.value.exit_code == ExitCode.USAGE
    assert "259-byte name" in info.value.message and "255-byte limit" in info.value.message
    assert "--name-template part 'LLL" in info.value.message
    with pytest.raises(UsageError, match=r"269-byte name \(still 266 with \{track\} shortened\)"):
        render(tmp_path, "{track}" + literal + "{stem}.{ext}", track="t" * 10)
    with pytest.raises(UsageError, match="byte name"):
        render(tmp_path, "{track}/{stem}.{ext}", stem="s" * 300)


def test_a_whole_path_over_path_max_is_refused(tmp_path: Path) -> None:
    template = "/".join(["{track}"] * 20) + "/{stem}.{ext}"
    with pytest.raises(UsageError, match=r"too long: \d+ bytes, over this system's limit"):
        render(tmp_path, template, track="p" * 250)
    assert render(tmp_path, template, track="p" * 10).name == "vocal.wav"


def test_limits_come_from_pathconf_of_the_nearest_existing_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def pathconf(path: str | Path, name: str) -> int:
        asked.append(str(path))
        return 100 if name == "PC_NAME_MAX" else 4096

    monkeypatch.setattr(os, "pathconf", pathconf)
    path = render(tmp_path / "not" / "yet", FLAT, track="k" * 150)
    assert name_bytes(path.name) <= 100 and path.name.endswith("_vocal.wav")
    assert set(asked) == {str(tmp_path)}
    monkeypatch.delattr(os, "pathconf")  # as on Windows
    assert name_max(tmp_path) == 255 and naming.path_max(tmp_path) == 4096


def test_safe_component_no_longer_cuts_and_drops_what_cannot_be_encoded() -> None:
    assert safe_component("x" * 1000) == "x" * 1000
    assert safe_component("a\ud800b") == "ab"  # a lone surrogate cannot be a file name
    assert safe_component("a\udcffb") == "a\udcffb"  # an undecodable byte round-trips


def test_a_field_that_looks_like_a_field_stays_text(tmp_path: Path) -> None:
    assert render(tmp_path, FLAT, track="{stem}").name == "{stem}_vocal.wav"


# ---- temporary names ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["v.wav", "한" * 80 + "_vocal.wav", "x" * 255])
def test_temp_names_have_a_fixed_short_length(tmp_path: Path, name: str) -> None:
    dest = tmp_path / name
    tmp = temp_path(dest)
    assert tmp.parent == dest.parent
    assert tmp.name.startswith(".gsep-") and tmp.name.endswith(".part")
    assert name_bytes(tmp.name) == len(tmp.name) == TEMP_NAME_BYTES == 36
    assert temp_path(dest) != tmp  # random part


def test_leftover_temps_lists_only_those_made_for_that_destination(tmp_path: Path) -> None:
    dest, other = tmp_path / "vocal.wav", tmp_path / "drum.wav"
    assert leftover_temps(dest) == []
    mine = [temp_path(dest) for _ in range(2)]
    theirs = temp_path(other)
    for path in [*mine, theirs, tmp_path / ".vocal.wav.1234abcd.part"]:
        path.write_bytes(b"partial")
    assert leftover_temps(dest) == sorted(mine)
    assert leftover_temps(other) == [theirs]
    assert leftover_temps(tmp_path / "missing" / "vocal.wav") == []


def test_a_250_byte_name_downloads_because_its_temporary_name_is_short(tmp_path: Path) -> None:
    # the old ".<name>.<8 hex>.part" made 265 bytes of this: ENAMETOOLONG after paying
    with Sandbox(job_seconds=0, chunk_size=1 << 20) as sb:
        song = make_wav(tmp_path / "song.wav", seconds=0.1)
        with GsepClient(sb.base_url, "k") as client:
            job = client.wait(client.create_job(client.upload_file(song)))
        url = next(o.url for o in job.outputs if o.name == "vocal" and o.format == "wav")
        dest = tmp_path / "out" / ("한" * 80 + "_vocal.wav")
        size = Downloader().fetch(url, dest, key="d", label="vocal.wav")
    assert dest.stat().st_size == size > 0
    assert leftover_temps(dest) == [] and os.listdir(dest.parent) == [dest.name]


# ---- {dir} and {trackext} ----------------------------------------------------------------
def test_input_fields_of_a_path_inside_the_current_folder(tmp_path: Path) -> None:
    assert InputFields.of(Path("album/x/a.wav"), tmp_path) == InputFields("a", "wav", "album/x")
    assert InputFields.of(tmp_path / "a.b.flac", tmp_path) == InputFields("a.b", "flac", "")
    assert InputFields.of(Path("./x/../y/song"), tmp_path) == InputFields("song", "", "y")


def test_input_fields_of_a_path_outside_drop_the_root(tmp_path: Path) -> None:
    cwd = tmp_path / "work"
    assert InputFields.of(Path("../music/s.mp3"), cwd) == InputFields(
        "s", "mp3", "/".join((tmp_path / "music").parts[1:])
    )
    assert InputFields.of(Path("/s.wav"), cwd) == InputFields("s", "wav", "")


def fields_of(source: InputFields, stem: str = "vocal") -> dict[str, str]:
    return template_values(source, stem=stem, ext="wav", model="m", job="j1")


@pytest.mark.parametrize(
    ("template", "dir_", "expected"),
    [
        ("{dir}/{track}/{stem}.{ext}", "album/x", "album/x/song/vocal.wav"),
        ("{dir}/{track}/{stem}.{ext}", "", "song/vocal.wav"),  # an empty {dir} vanishes
        ("{dir}/{dir}/{stem}.{ext}", "a/b", "a/b/a/b/vocal.wav"),
        ("{dir}-{track}/{stem}.{ext}", "album/x", "album_x-song/vocal.wav"),
        ("{dir}-{track}/{stem}.{ext}", "", "-song/vocal.wav"),
        ("{dir}/{stem}.{ext}", "../../etc", "_/_/etc/vocal.wav"),  # never climbs
        ("{dir}/{stem}.{ext}", "a\\b/./c:d", "a/b/c_d/vocal.wav"),
        ("{dir}/{stem}.{ext}", "home/CON", "home/_CON/vocal.wav"),
    ],
)
def test_dir_expands_to_folders_or_joins_with_underscores(
    tmp_path: Path, template: str, dir_: str, expected: str
) -> None:
    path = output_path(tmp_path, template, fields_of(InputFields("song", "wav", dir_)))
    assert path.relative_to(tmp_path).as_posix() == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (InputFields("song", "wav"), "song.wav/vocal.wav"),
        (InputFields("song", "MP3"), "song.MP3/vocal.wav"),
        (InputFields("5f1c9a"), "5f1c9a/vocal.wav"),  # gsep download, no input on record
    ],
)
def test_trackext_is_the_extension_or_nothing(
    tmp_path: Path, source: InputFields, expected: str
) -> None:
    path = output_path(tmp_path, "{track}.{trackext}/{stem}.{ext}", fields_of(source))
    assert path.relative_to(tmp_path).as_posix() == expected


def test_a_template_may_not_end_in_dir_alone() -> None:
    with pytest.raises(UsageError, match=r"ends in \{dir\}"):
        check_template("{track}/{dir}")
    assert check_template("{dir}/{track}.{trackext}/{stem}.{ext}")


def test_a_dir_folder_over_the_limit_is_refused_not_cut(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"part '\{dir\}' gives a 300-byte name"):
        output_path(tmp_path, "{dir}/{stem}.{ext}", fields_of(InputFields("s", "", "d" * 300)))


# ---- the plan -------------------------------------------------------------------------------
VOCAL = [("vocal", "wav")]


def plan(
    tmp_path: Path, names: list[str], template: str = DEFAULT_TEMPLATE, jobs: Any = None
) -> list[list[Path]]:
    inputs = [Path(n) for n in names]
    return plan_outputs(inputs, tmp_path / "out", template, VOCAL, "m", jobs=jobs, cwd=tmp_path)


def refused(
    tmp_path: Path, names: list[str], template: str = DEFAULT_TEMPLATE, jobs: Any = None
) -> UsageError:
    with pytest.raises(UsageError) as info:
        plan(tmp_path, names, template, jobs)
    assert info.value.exit_code == ExitCode.USAGE
    return info.value


def test_the_plan_gives_each_input_its_paths_in_order(tmp_path: Path) -> None:
    out = tmp_path / "out"
    planned = plan_outputs(
        [Path("a.wav"), Path("b.wav")],
        out,
        DEFAULT_TEMPLATE,
        [("vocal", "wav"), ("vocal", "mp3")],
        "m",
    )
    assert planned == [
        [out / "a" / "vocal.wav", out / "a" / "vocal.mp3"],
        [out / "b" / "vocal.wav", out / "b" / "vocal.mp3"],
    ]


@pytest.mark.parametrize(
    ("names", "template", "hint"),
    [
        (
            ["a/song.wav", "b/song.wav"],
            DEFAULT_TEMPLATE,
            "Add {dir}: --name-template '{dir}/{track}/{stem}.{ext}'",
        ),
        (
            ["song.wav", "song.mp3"],
            DEFAULT_TEMPLATE,
            "Add {trackext}: --name-template '{track}_{trackext}/{stem}.{ext}'",
        ),
        (
            ["song.wav", "song.mp3"],
            "{stem}.{ext}",
            "Add {trackext}: --name-template '{trackext}/{stem}.{ext}'",
        ),
        (["a.wav", "b.wav"], "{stem}.{ext}", "Add {track}: --name-template '{track}/{stem}.{ext}'"),
        (["x/a.wav", "y/b.wav"], "{model}/{stem}.{ext}", "Add {track}:"),
        (["a:b/s.wav", "a_b/s.wav"], "{dir}/{track}/{stem}.{ext}", "Rename one of them"),
        (["a:b/s.wav", "a_b/s.wav"], "{dir}/{stem}.{ext}", "Rename one of them and add {track}"),
        (["s?.wav", "s_.wav"], DEFAULT_TEMPLATE, "Rename one of them"),
    ],
)
def test_two_inputs_on_one_path_are_refused_with_the_field_that_parts_them(
    tmp_path: Path, names: list[str], template: str, hint: str
) -> None:
    error = refused(tmp_path, names, template)
    assert error.message.startswith(f"{names[0]} and {names[1]} would both write {tmp_path}/out/")
    assert (error.hint or "").startswith(hint)


def test_job_values_decide_whether_inputs_meet(tmp_path: Path) -> None:
    names, template = ["a/s.wav", "b/s.wav"], "{job}/{stem}.{ext}"
    assert plan(tmp_path, names, template)[1] == [tmp_path / "out" / "job-2" / "vocal.wav"]
    assert plan(tmp_path, names, template, jobs=["j1", "j2"])[0] == [
        tmp_path / "out" / "j1" / "vocal.wav"
    ]
    assert "{dir}" in (refused(tmp_path, names, template, jobs=["same", "same"]).hint or "")


def test_paths_are_compared_resolved(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a").mkdir()
    (tmp_path / "out" / "b").symlink_to(tmp_path / "out" / "a")
    error = refused(tmp_path, ["a.wav", "b.wav"])
    assert error.message == f"a.wav and b.wav would both write {tmp_path}/out/b/vocal.wav"


def test_on_a_case_insensitive_file_system_case_does_not_part_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert plan(tmp_path, ["Song.wav", "song.wav"])  # case-sensitive here: two folders
    monkeypatch.setattr(naming.collisions, "case_insensitive", lambda folder: True)
    assert refused(tmp_path, ["Song.wav", "song.wav"]).hint == "Rename one of them"
    assert (refused(tmp_path, ["A/s.wav", "a/s.wav"]).hint or "").startswith("Rename one")


def test_case_insensitivity_is_probed_on_an_existing_folder(tmp_path: Path) -> None:
    (tmp_path / "Probe").mkdir()
    expected = (tmp_path / "pROBE").exists()
    assert case_insensitive(tmp_path / "Probe" / "not" / "yet") is expected


@pytest.mark.parametrize(
    ("outputs", "template", "hint"),
    [
        ([("vocal", "wav"), ("drum", "wav")], "{track}.{ext}", "Include {stem} in --name-template"),
        (
            [("vocal", "wav"), ("vocal", "mp3")],
            "{track}/{stem}",
            "Include {ext} in --name-template",
        ),
        (
            [("vocal", "wav"), ("vocal", "mp3"), ("drum", "wav")],
            "{track}",
            "Include {stem} and {ext} in --name-template",
        ),
        (
            [("a:b", "wav"), ("a_b", "wav")],
            DEFAULT_TEMPLATE,
            "Their names differ only in characters a file name cannot keep",
        ),
    ],
)
def test_two_outputs_of_one_input_name_exactly_the_missing_fields(
    tmp_path: Path, outputs: list[tuple[str, str]], template: str, hint: str
) -> None:
    with pytest.raises(UsageError, match=r"maps two outputs of song\.wav") as info:
        output_paths(
            tmp_path, template, InputFields("song"), outputs, model="m", job="j", label="song.wav"
        )
    assert info.value.hint == hint


def test_refuse_collisions_on_bare_paths_offers_no_field(tmp_path: Path) -> None:
    refuse_collisions([tmp_path / "a", tmp_path / "b"])
    with pytest.raises(UsageError, match="same file") as info:
        refuse_collisions([tmp_path / "a", tmp_path / "x" / ".." / "a"])
    assert "{" not in (info.value.hint or "")


# ---- the property -----------------------------------------------------------------------------
ROOT = Path("/nonexistent-gsep-root/out")
FIELD_PIECES = ["{track}", "{stem}", "{ext}", "{model}", "{job}", "{dir}", "{trackext}"]
PIECES = [*FIELD_PIECES, "_", "-", ".", " ", "x"]
SEGMENT = st.lists(st.sampled_from(PIECES), min_size=1, max_size=5, unique=True).map("".join)
TEMPLATE = st.lists(SEGMENT | st.just("{dir}"), min_size=1, max_size=4).map("/".join)
DIR = st.lists(st.text(st.characters(exclude_categories=()), max_size=8), max_size=3).map("/".join)
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=400)
STEM = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=10)


def _valid(template: str) -> bool:
    try:
        check_template(template)
    except UsageError:
        return False
    return True


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(
    template=TEMPLATE.filter(_valid),
    track=ANY_TEXT,
    trackext=st.text(st.characters(exclude_categories=()), max_size=5),
    dir_=DIR,
    stems=st.lists(STEM, min_size=2, max_size=2, unique=True),
    ext=st.sampled_from(["wav", "mp3", "json", "a"]),
)
def test_rendered_paths_fit_stay_inside_and_keep_stem_and_ext(
    template: str, track: str, trackext: str, dir_: str, stems: list[str], ext: str
) -> None:
    source = {"track": track, "trackext": trackext, "dir": dir_}
    paths = [render(ROOT, template, **source, stem=stem, ext=ext) for stem in stems]
    limit = name_max(ROOT)
    folders = len([part for part in re.split(r"[/\\]", dir_) if part not in ("", ".")])
    segments = [
        s for seg in template.split("/") for s in ([seg] * folders if seg == "{dir}" else [seg])
    ]
    for path, stem in zip(paths, stems, strict=True):
        assert os.path.normpath(path).startswith(str(ROOT) + os.sep)
        parts = path.relative_to(ROOT).parts
        assert len(parts) == len(segments)
        for part, segment in zip(parts, segments, strict=True):
            assert part not in ("", ".", "..")
            assert name_bytes(part) <= limit
            if "{stem}" in segment:
                assert stem in part
            if "{ext}" in segment:
                assert ext in part
    if "{stem}" in template:
        assert paths[0] != paths[1]
