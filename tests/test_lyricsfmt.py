"""lyrics.csv → LRC and SubRip (issue 17, "Lyrics"): the formats' own examples, the
timing rules, the lenient CSV reader, properties through a tiny independent parser of
each format, and the sandbox's real lyrics.csv over loopback HTTP."""

from __future__ import annotations

import csv
import io
import re

import pytest
from audio import wav_bytes
from conftest import Api
from hypothesis import given, settings
from hypothesis import strategies as st

from gsep_cli.errors import ExitCode, UsageError
from gsep_cli.lyricsfmt import LyricLine, read_lyrics_csv, to_lrc, to_srt
from gsep_cli.sandbox import Sandbox

LYRICS_MODEL = "gts_lyrics_line_v1"


# ---- tiny parsers, written from the format descriptions, not from lyricsfmt ----------
def parse_lrc(text: str) -> tuple[dict[str, str], list[tuple[float, str]]]:
    """ID tags and ``(seconds, text)`` of a simple LRC file; any other line fails."""
    assert text.endswith("\n") or not text
    tags: dict[str, str] = {}
    lines: list[tuple[float, str]] = []
    for row in text.split("\n")[:-1]:
        timed = re.fullmatch(r"\[(\d{2,}):([0-5]\d)\.(\d\d)\](.*)", row)
        if timed:
            lines.append((int(timed[1]) * 60 + int(timed[2]) + int(timed[3]) / 100, timed[4]))
        elif row:
            tag = re.fullmatch(r"\[([a-z]+):(.*)\]", row)
            assert tag is not None and not lines, row  # tags come before the lyrics
            tags[tag[1]] = tag[2]
    return tags, lines


def _srt_seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def parse_srt(text: str) -> list[tuple[int, float, float, list[str]]]:
    """``(number, start, end, text lines)`` of each SubRip cue; any other shape fails."""
    if not text:
        return []
    assert text.endswith("\n") and not text.endswith("\n\n\n")
    cues = []
    stamp = r"(\d{2,}):([0-5]\d):([0-5]\d),(\d{3})"
    for block in text.rstrip("\n").split("\n\n"):
        number, timing, *body = block.split("\n")
        match = re.fullmatch(f"{stamp} --> {stamp}", timing)
        assert match is not None and number.isdigit(), block
        assert body and all(line.strip() for line in body), block
        start, end = _srt_seconds(*match.groups()[:4]), _srt_seconds(*match.groups()[4:])
        cues.append((int(number), start, end, body))
    return cues


# ---- the formats' own examples -------------------------------------------------------
def test_lrc_basic_example_of_the_format_description() -> None:
    """The basic example of https://en.wikipedia.org/wiki/LRC_(file_format) ("Core
    format"): ``[00:12.00]Line 1 lyrics`` / ``[00:17.20]Line 2 lyrics``."""
    example = "[00:12.00]Line 1 lyrics\n[00:17.20]Line 2 lyrics\n"
    lines = [LyricLine(17.2, None, "Line 2 lyrics"), LyricLine(12.0, None, "Line 1 lyrics")]
    assert to_lrc(lines) == example
    assert parse_lrc(example) == ({}, [(12.0, "Line 1 lyrics"), (17.2, "Line 2 lyrics")])


def test_lrc_example_with_id_tags() -> None:
    """The "EXAMPLES" section of lrc(5x), Cross-Unix Documentation
    (https://hacktivis.me/git/cross-unix-documentation/file/man5x/lrc.5x.html), the same
    as Wikipedia's "Example with ID tags": ar, al, ti, au, length as m:ss, a blank line."""
    example = (
        "[ar:Chubby Checker oppure Beatles, The]\n"
        "[al:Hits Of The 60's - Vol. 2 – Oldies]\n"
        "[ti:Let's Twist Again]\n"
        "[au:Written by Kal Mann / Dave Appell, 1961]\n"
        "[length:2:23]\n"
        "\n"
        "[00:12.00]Naku Penda Piya-Naku Taka Piya-Mpenziwe\n"
        "[00:15.30]Some more lyrics ...\n"
    )
    written = to_lrc(
        [
            LyricLine(12.0, 15.0, "Naku Penda Piya-Naku Taka Piya-Mpenziwe"),
            LyricLine(15.3, None, "Some more lyrics ..."),
        ],
        title="Let's Twist Again",
        artist="Chubby Checker oppure Beatles, The",
        album="Hits Of The 60's - Vol. 2 – Oldies",
        author="Written by Kal Mann / Dave Appell, 1961",
        length=143.2,
    )
    assert written == example
    assert parse_lrc(example)[0]["length"] == "2:23"


MATROSKA_SRT = """\
1
00:02:17,440 --> 00:02:20,375
Senator, we're making
our final approach into Coruscant.

2
00:02:20,476 --> 00:02:22,501
Very good, Lieutenant.
"""


def test_srt_example_of_the_format_description() -> None:
    """The example SRT file of the Matroska subtitle notes, "SRT Subtitles"
    (https://www.matroska.org/technical/subtitles.html; ietf-wg-cellar/
    matroska-specification, subtitles.md), the description Wikipedia's SubRip cites."""
    lines = [
        LyricLine(137.44, 140.375, "Senator, we're making\nour final approach into Coruscant."),
        LyricLine(140.476, 142.501, "Very good, Lieutenant."),
    ]
    assert to_srt(lines) == MATROSKA_SRT
    assert parse_srt(MATROSKA_SRT)[1] == (2, 140.476, 142.501, ["Very good, Lieutenant."])


def test_srt_example_from_a_csv_with_clock_times_and_an_end_column() -> None:
    text = (
        "Start,End,Text\n"
        '00:02:17.440,00:02:20.375,"Senator, we\'re making\nour final approach into Coruscant."\n'
        '"00:02:20,476",0:02:22.501,"Very good, Lieutenant."\n'  # a decimal comma, quoted
    )
    assert to_srt(read_lyrics_csv(text)) == MATROSKA_SRT


# ---- timestamps to each format's resolution --------------------------------------------
@pytest.mark.parametrize(
    ("seconds", "lrc", "srt"),
    [
        (0.0, "00:00.00", "00:00:00,000"),
        (1.004, "00:01.00", "00:00:01,004"),
        (1.005, "00:01.01", "00:00:01,005"),  # halves up, from the decimal as written
        (0.0005, "00:00.00", "00:00:00,001"),
        (59.999, "01:00.00", "00:00:59,999"),
        (59.9995, "01:00.00", "00:01:00,000"),
        (4530.0, "75:30.00", "01:15:30,000"),  # LRC minutes go past 59
        (360000.0, "6000:00.00", "100:00:00,000"),
    ],
)
def test_times_are_rounded_to_each_formats_resolution(seconds: float, lrc: str, srt: str) -> None:
    assert to_lrc([LyricLine(seconds, None, "x")]) == f"[{lrc}]x\n"
    assert to_srt([LyricLine(seconds, None, "x")]).split("\n")[1].startswith(f"{srt} --> ")


def test_lrc_joins_a_texts_lines_and_keeps_non_ascii() -> None:
    lines = [LyricLine(1, None, "  사랑해\r\n\n愛してる \u2028 ❤️ "), LyricLine(2, None, "")]
    written = to_lrc(lines, title="노래\n제목", by=" ")  # a blank tag is left out
    assert written == "[ti:노래 제목]\n\n[00:01.00]사랑해 愛してる ❤️\n[00:02.00]\n"


@pytest.mark.parametrize(
    ("lines", "cues"),
    [
        # own end; the last line without one lasts the default 5 s
        ([(1, 2, "a"), (5, None, "b")], [(1, 2, ["a"]), (5, 10, ["b"])]),
        # no end: up to the next start
        ([(1, None, "a"), (3, None, "b")], [(1, 3, ["a"]), (3, 8, ["b"])]),
        # an own end past the next start is cut there (no overlap)
        ([(1, 10, "a"), (3, None, "b")], [(1, 3, ["a"]), (3, 8, ["b"])]),
        # an end not after the start is no end (no zero length)
        ([(1, 1, "a"), (2, 1.5, "b"), (4, None, "c")],
         [(1, 2, ["a"]), (2, 4, ["b"]), (4, 9, ["c"])]),
        # equal starts are one cue, lines in input order, ending at their latest own end
        ([(1, None, "a"), (1, 2.5, "b"), (1.0004, 2, "c"), (4, None, "d")],
         [(1, 2.5, ["a", "b", "c"]), (4, 9, ["d"])]),
        # a line without text ends the cue before it and writes none; numbers stay 1, 2
        ([(1, None, "a"), (3, None, " \n"), (6, None, "b")], [(1, 3, ["a"]), (6, 11, ["b"])]),
        # blank lines inside a text are dropped; input order does not matter
        ([(7, None, "z"), (0, None, "x\n\n  y  ")], [(0, 7, ["x", "y"]), (7, 12, ["z"])]),
    ],
)  # fmt: skip
def test_srt_end_time_rules(
    lines: list[tuple[float, float | None, str]], cues: list[tuple[float, float, list[str]]]
) -> None:
    written = parse_srt(to_srt([LyricLine(*line) for line in lines]))
    assert written == [(i, *cue) for i, cue in enumerate(cues, 1)]


def test_srt_default_duration_and_the_empty_list() -> None:
    assert parse_srt(to_srt([LyricLine(1, None, "a")], default_duration=0.25)) == [
        (1, 1, 1.25, ["a"])
    ]
    assert parse_srt(to_srt([LyricLine(1, None, "a")], default_duration=1e-9)) == [
        (1, 1, 1.001, ["a"])  # never zero length, even when asked
    ]
    assert to_srt([]) == "" and to_lrc([]) == ""
    with pytest.raises(ValueError, match="default_duration"):
        to_srt([], default_duration=0)


@pytest.mark.parametrize("bad", [-0.001, float("nan"), float("inf")])
def test_line_times_must_be_finite_and_not_negative(bad: float) -> None:
    with pytest.raises(ValueError, match="start"):
        LyricLine(bad, None, "x")
    with pytest.raises(ValueError, match="end"):
        LyricLine(0, bad, "x")
    with pytest.raises(ValueError, match="length"):
        to_lrc([], length=bad)


# ---- the CSV reader --------------------------------------------------------------------
def test_reads_the_sandbox_layout_with_bom_crlf_quotes_and_empty_rows() -> None:
    text = (
        "\ufefftimestamp,lyric_text,confidence_score\r\n0.000,첫 줄,0.99\r\n\r\n"
        '2.5,"two, with\r\na break",0.5\r\n,,\r\n10.125,  last  ,1\r\n'
    )
    assert (
        read_lyrics_csv(text)
        == read_lyrics_csv(text.encode("utf-8"))
        == [
            LyricLine(0.0, None, "첫 줄"),
            LyricLine(2.5, None, "two, with\r\na break"),
            LyricLine(10.125, None, "last"),
        ]
    )


@pytest.mark.parametrize(
    ("header", "row", "expected"),
    [
        ("Start,End,Text", "1,2,a", LyricLine(1, 2, "a")),
        ("text,score,START_TIME", "a,0.9,1", LyricLine(1, None, "a")),
        ("Lyrics,Time,End Time", "a,1,", LyricLine(1, None, "a")),
        ("lyric,start-time,end_time,timestamp", "a,9,2,1", LyricLine(1, 2, "a")),
        ("TIMESTAMP,LYRIC_TEXT", "01:02.5,a", LyricLine(62.5, None, "a")),
        ("timestamp,text", "1:02:03.25,a", LyricLine(3723.25, None, "a")),
        ("timestamp,text", '"00:00:01,5",a', LyricLine(1.5, None, "a")),
        ("timestamp,text", "75:00,a", LyricLine(4500, None, "a")),
        ("timestamp,text", ".5,a", LyricLine(0.5, None, "a")),
    ],
)  # fmt: skip
def test_reads_column_names_and_time_forms_leniently(
    header: str, row: str, expected: LyricLine
) -> None:
    assert read_lyrics_csv(f"{header}\n{row}\n") == [expected]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "the lyrics CSV is empty"),
        ("\ufeff\n\n", "the lyrics CSV is empty"),
        ("confidence,text\n1,a\n", "no start time column (its header: confidence, text)"),
        ("timestamp,score\n1,0.5\n", "no text column"),
        ('"time\nstamp",text\n1,a\n', "no start time column (its header: time stamp, text)"),
        (f"{'long,' * 30}text\n", f"(its header: {', '.join(['long'] * 10)},…)"),
        ("timestamp,text\nabc,a\n", "line 2 of the lyrics CSV has an unreadable time 'abc'"),
        ("timestamp,text\n-1,a\n", "unreadable time '-1'"),
        ("timestamp,text\nnan,a\n", "unreadable time 'nan'"),
        ("timestamp,text\n1e3,a\n", "unreadable time '1e3'"),
        ("timestamp,text\n1:75,a\n", "unreadable time '1:75'"),
        ("timestamp,text\n1:60:00,a\n", "unreadable time '1:60:00'"),
        (f"timestamp,text\n{'x' * 40},a\n", f"time '{'x' * 29}…'"),
        ("timestamp,text\n,a\n", "line 2 of the lyrics CSV has no start time"),
        ("timestamp,text,end\n1,a,0.5\n", "line 2 of the lyrics CSV ends (0.5 s) before it starts"),
        ("timestamp,text\n1,a\n2\n", "line 3 of the lyrics CSV has 1 fields, not 2"),
        ('timestamp,text\n1,"a"b\n', "line 2 of the lyrics CSV cannot be read"),
        ("timestamp,text\n1,\u00e9\n".encode("latin-1"), "not UTF-8 (byte 17 is 0xe9)"),
    ],
)  # fmt: skip
def test_unreadable_csv_is_a_one_line_usage_error_with_a_hint(text: str | bytes, says: str) -> None:
    with pytest.raises(UsageError) as info:
        read_lyrics_csv(text)
    error = info.value
    assert says in error.message
    assert error.exit_code == ExitCode.USAGE
    assert "\n" not in error.message and "\n" not in error.what_to_do
    assert error.hint and "--format csv" in error.hint


# ---- properties --------------------------------------------------------------------------
ONE_LINE = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=12
).map(str.strip).filter(bool)  # fmt: skip
TIMES = st.floats(min_value=0, max_value=20_000) | st.integers(0, 40).map(lambda n: n / 8)
LINES = st.lists(st.builds(LyricLine, TIMES, st.none() | TIMES, ONE_LINE), max_size=12)


@settings(max_examples=150, deadline=None)
@given(LINES)
def test_lrc_parses_back_to_the_same_texts_in_order_within_a_hundredth(
    lines: list[LyricLine],
) -> None:
    tags, parsed = parse_lrc(to_lrc(lines))
    ordered = sorted(lines, key=lambda line: line.start)
    assert tags == {}
    assert [text for _, text in parsed] == [line.text for line in ordered]
    for (seconds, _), line in zip(parsed, ordered, strict=True):
        assert abs(seconds - line.start) <= 0.005 + 1e-6
    assert [t for t, _ in parsed] == sorted(t for t, _ in parsed)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.builds(LyricLine, TIMES, st.none(), st.text(max_size=12)), max_size=8))
def test_lrc_writes_one_physical_line_per_lyric_whatever_the_text(
    lines: list[LyricLine],
) -> None:
    written = to_lrc(lines, title="a\rb\x85c")
    assert written.splitlines() == written.split("\n")[:-1]  # no other line breaks inside
    assert len(written.splitlines()) == len(lines) + 2


@settings(max_examples=150, deadline=None)
@given(LINES, st.floats(min_value=0.001, max_value=30))
def test_srt_cues_are_numbered_ordered_apart_and_never_empty(
    lines: list[LyricLine], default: float
) -> None:
    cues = parse_srt(to_srt(lines, default_duration=default))
    ordered = sorted(lines, key=lambda line: line.start)
    assert [c[0] for c in cues] == list(range(1, len(cues) + 1))
    assert [text for c in cues for text in c[3]] == [line.text for line in ordered]
    for i, (_, start, end, texts) in enumerate(cues):
        assert start < end
        following = cues[i + 1][1] if i + 1 < len(cues) else None
        assert following is None or start < end <= following
        mine, ordered = ordered[: len(texts)], ordered[len(texts) :]
        assert all(abs(line.start - start) <= 0.0005 + 1e-6 for line in mine)
        own = [line.end for line in mine if line.end is not None]
        assert (
            any(abs(end - e) <= 0.0005 + 1e-6 for e in own)
            or end == following
            or abs(end - start - max(default, 0.001)) <= 0.0005 + 1e-6
        )


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(TIMES, st.text(st.characters(blacklist_characters="\x00"))), max_size=8),
    st.booleans(),
    st.booleans(),
)
def test_csv_written_by_the_csv_module_reads_back(
    rows: list[tuple[float, str]], bom: bool, clock: bool
) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["timestamp", "lyric_text", "confidence_score"])
    for seconds, text in rows:
        minutes, rest = divmod(seconds, 60)
        stamp = f"{int(minutes):02d}:{rest:06.3f}" if clock else f"{seconds:.3f}"
        writer.writerow([stamp, text, "0.99"])
    lines = read_lyrics_csv(("\ufeff" if bom else "") + out.getvalue())
    shown = [re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", "", t) for _, t in rows]
    assert [line.text for line in lines] == [text.strip() for text in shown]
    for line, (seconds, _) in zip(lines, rows, strict=True):
        assert abs(line.start - seconds) <= 0.0005 + 1e-6


# ---- the sandbox's lyrics.csv, fetched over loopback HTTP --------------------------------
@pytest.mark.slow
def test_the_sandboxs_lyrics_csv_converts(sb: Sandbox) -> None:
    sung = ["첫 번째 줄", "second, with a comma", 'a "quoted" word', "最後の行"]
    api = Api(sb)
    audio = api.upload(wav_bytes(frames=16000), "song.wav")
    text = api.upload(("\n".join(sung) + "\n").encode("utf-8"), "song.txt")
    job = api.job_id(LYRICS_MODEL, audioUploadId=audio, textUploadId=text, language="ko")
    done = api.wait(job, LYRICS_MODEL)
    assert done["status"] == "success", done
    answer = api.http.get(done["downloadUrl"]["lyrics"]["file"], timeout=30)
    assert answer.status_code == 200
    lines = read_lyrics_csv(answer.content.decode("utf-8"))
    assert [line.text for line in lines] == sung

    tags, timed = parse_lrc(to_lrc(lines, title="song"))
    assert tags == {"ti": "song"} and [text for _, text in timed] == sung
    cues = parse_srt(to_srt(lines))
    assert [c[3] for c in cues] == [[line] for line in sung]
    assert [c[1] for c in cues] == [round(line.start, 3) for line in lines]


def test_control_characters_from_the_server_never_reach_a_file() -> None:
    from gsep_cli.lyricsfmt import read_lyrics_csv, to_lrc, to_srt

    csv_text = 'timestamp,lyric_text\n0.5,"bell\x07 and \x1b[31mred\x00"\n1.0,"C1\x9b end"\n'
    lines = read_lyrics_csv(csv_text)
    for out in (to_lrc(lines), to_srt(lines)):
        assert not any(ch in out for ch in "\x00\x07\x1b\x9b"), out
    assert lines[0].text == "bell and [31mred"


def test_texts_that_look_like_timing_stay_text() -> None:
    from gsep_cli.lyricsfmt import LyricLine, to_lrc, to_srt

    lines = [
        LyricLine(1.0, None, "00:00:05,000 --> 00:00:06,000"),
        LyricLine(2.0, None, "[00:05.00]x"),
    ]
    srt = to_srt(lines)
    assert srt.count("-->") == 2  # the two timing lines only
    assert "00:00:05,000 → 00:00:06,000" in srt
    lrc = to_lrc(lines).splitlines()
    assert lrc[1] == "[00:02.00](00:05.00]x"
