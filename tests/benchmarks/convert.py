"""Conversion (issue 17): gsep's converter against the ``ffmpeg`` command line on the same
WAV stem and format, side by side in one run.

* time: a 3-minute stereo 44.1 kHz 16-bit stem (music-like: chords of decaying tones, a
  bass line and a little noise) to flac, aiff, wav 24-bit, ogg, opus (128 kbps), mp3
  (320 CBR), flac at 48 kHz, and a mix of three stems to wav. gsep two ways: the library
  call in this process (``gsep_cli.audio.convert.convert``, interleaved with ffmpeg), and
  the whole user path, ``gsep download JOB --format F`` from a sandbox, beside what a user
  without it does: ``gsep download JOB --format wav`` then ffmpeg. Ratio of medians.
* memory: peak RSS (``/usr/bin/time -f %M``) of a conversion in a child process for a
  3-minute and a 60-minute stem: flac, a 3-stem mix to wav, a resample to 48 kHz; ffmpeg's
  beside it.
* start-up: ``gsep --version`` and ``gsep job status`` import no audio module (numpy,
  soundfile, soxr), and, when ``GSEP_BENCH_NOAUDIO`` names a ``gsep`` installed without
  the audio extra, their times with the extra against without it (interleaved).

The ffmpeg options mirror gsep's choices (see ``CASES``). Needs the ``audio`` extra
(numpy, soundfile, soxr) next to this Python and ``ffmpeg`` on PATH.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import Row, env_for, gsep_exe, sandbox, timed
from startup import COMPLETION, _compare, _output
from transfers import _peak_rss_mib

RATE = 44100
TARGET = 1.2
SOXR = ["-af", "aresample=48000:resampler=soxr:precision=28"]
"""ffmpeg's soxr at 28 bits of precision: python-soxr's ``VHQ``, which gsep uses."""


@dataclass(frozen=True)
class Case:
    """One conversion: ``fmt`` and the options given to gsep (``args`` for the CLI, the
    same as :class:`~gsep_cli.audio.formats.Rendering` fields in ``rendering``), the
    ffmpeg options that make the same file, and how many stems it sums."""

    label: str
    fmt: str
    rendering: dict[str, Any]
    args: tuple[str, ...]
    ffmpeg: tuple[str, ...]
    stems: int = 1


CASES = [
    # libsndfile's FLAC default is libFLAC's level 5; ffmpeg's own encoder at level 5
    Case("flac", "flac", {}, (), ("-c:a", "flac", "-compression_level", "5")),
    Case("aiff", "aiff", {}, (), ("-c:a", "pcm_s16be")),
    Case("wav 24-bit", "wav", {"bit_depth": "24"}, ("--bit-depth", "24"), ("-c:a", "pcm_s24le")),
    # gsep's Vorbis default is libvorbis quality 0.4 (ffmpeg's -q:a 4)
    Case("ogg", "ogg", {}, (), ("-c:a", "libvorbis", "-q:a", "4")),
    # the stem is 44.1 kHz: Opus codes at 48 kHz, so both resample with soxr first
    Case(
        "opus 128k",
        "opus",
        {"bitrate": 128},
        ("--bitrate", "128"),
        (*SOXR, "-c:a", "libopus", "-b:a", "128k"),
    ),
    # LAME at its default quality (3) on both sides: libsndfile and ffmpeg leave it unset
    Case(
        "mp3 320 CBR",
        "mp3",
        {"bitrate": 320},
        ("--bitrate", "320"),
        ("-c:a", "libmp3lame", "-b:a", "320k"),
    ),
    Case(
        "flac 48 kHz",
        "flac",
        {"sample_rate": 48000},
        ("--sample-rate", "48000"),
        (*SOXR, "-c:a", "flac", "-compression_level", "5"),
    ),
    Case(
        "mix of 3 → wav",
        "wav",
        {},
        (),
        ("-filter_complex", "amix=inputs=3:normalize=0", "-c:a", "pcm_s16le"),
        stems=3,
    ),
]


CHORDS = [
    (220.0, 277.18, 329.63),  # A major
    (196.0, 246.94, 293.66),  # G major
    (174.61, 220.0, 261.63),  # F major
    (164.81, 207.65, 246.94),  # E major
]
"""Hz: the chords of :func:`music`, eight beats (4 s) each, round and round."""


def music(path: Path, seconds: float, seed: int = 0, level: float = 1.0) -> Path:
    """A stereo 44.1 kHz 16-bit WAV of ``seconds``: four chords of three decaying tones
    with a harmonic (two beats a second), a bass line and noise at -40 dB; ``seed`` moves
    the chords and the noise, ``level`` scales it all (peaks about 0.7 x level). Written in
    blocks, so an hour takes no more memory than a minute."""
    import numpy as np
    import soundfile as sf

    chords = np.array(CHORDS) * (1.0 + 0.12 * seed)
    total, step = int(seconds * RATE), 1 << 18
    with sf.SoundFile(str(path), "w", RATE, 2, "PCM_16", format="WAV") as fh:
        for start in range(0, total, step):
            t = (start + np.arange(min(step, total - start))) / RATE
            beat = np.floor(t * 2)
            into = t - beat / 2
            envelope = np.exp(-4.0 * into) * (1 - np.exp(-200.0 * into))
            chord = chords[(beat.astype(np.int64) // 8 + seed) % 4]
            out = np.zeros((len(t), 2))
            for i in range(3):
                tone = np.sin(2 * np.pi * chord[:, i] * t)
                tone += 0.3 * np.sin(4 * np.pi * chord[:, i] * t)
                out[:, 0] += tone * envelope * (0.22 - 0.04 * i)
                out[:, 1] += tone * envelope * (0.14 + 0.04 * i)
            out += 0.2 * np.sin(np.pi * chord[:, :1] * t[:, None])
            out += np.random.default_rng([seed, start]).normal(0, 0.01, out.shape)
            fh.write(out * level)
    return path


def ffmpeg(sources: Sequence[Path], dest: Path, case: Case) -> list[str]:
    """The ffmpeg command line that makes ``dest`` like gsep does for ``case``."""
    inputs = [arg for src in sources for arg in ("-i", str(src))]
    quiet = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    return ["ffmpeg", *quiet, *inputs, *case.ffmpeg, str(dest)]


def _ratio_row(figure: str, ours: list[float], theirs: list[float], peer: str) -> Row:
    a, b = statistics.median(ours), statistics.median(theirs)
    return Row(figure, f"{a:.2f} s", f"{b:.2f} s ({peer})", a / b, f"<= {TARGET}x", a / b <= TARGET)


def _stems(folder: Path, seconds: float) -> list[Path]:
    """The flat stem (full level), then three more at a third of its level, the stems of
    the mix (so their sum stays under full scale, like a song's stems)."""
    flat = music(folder / "stem.wav", seconds)
    quiet = [music(folder / f"part{n}.wav", seconds, seed=n, level=1 / 3) for n in (1, 2, 3)]
    return [flat, *quiet]


def speed(quick: bool) -> list[Row]:
    """Time per format: the library call and the whole user path, against ffmpeg."""
    from gsep_cli.audio.convert import convert
    from gsep_cli.audio.formats import Rendering

    runs = 3 if quick else 7
    seconds = 30.0 if quick else 180.0
    rows = []
    with tempfile.TemporaryDirectory(prefix="gsep-bench-") as tmp_name:
        tmp = Path(tmp_name)
        flat, *parts = _stems(tmp, seconds)
        for case in CASES:
            sources = parts if case.stems > 1 else [flat]
            ours, theirs = [], []
            mine, peer = tmp / f"gsep.{case.fmt}", tmp / f"ffmpeg.{case.fmt}"
            rendering = Rendering(**case.rendering)
            for n in range(runs + 1):  # the first of each: warm-up, not counted
                start = time.perf_counter()
                convert(sources, mine, case.fmt, rendering)
                elapsed = time.perf_counter() - start
                theirs_now = timed(ffmpeg(sources, peer, case))
                if n:
                    ours.append(elapsed)
                    theirs.append(theirs_now)
            figure = f"convert {seconds / 60:g}-min stem → {case.label} (library call)"
            rows.append(_ratio_row(figure, ours, theirs, "ffmpeg"))
        rows.extend(_user_path(tmp, flat, max(2, runs // 2)))
    return rows


def _user_path(tmp: Path, stem: Path, runs: int) -> list[Row]:
    """``gsep download JOB --format F`` (start-up, API calls, the WAV stem's download over
    loopback, the conversion, tags) beside ``gsep download JOB --format wav`` then ffmpeg,
    for every single-stem case, into empty folders."""
    rows = []
    with sandbox("--job-seconds", "0", "--rate-limit", "0") as box:
        env = env_for(box.base_url, tmp)
        upload = _output([gsep_exe(), "upload", str(stem)], env)
        job = _output([gsep_exe(), "job", "create", upload, "--stems", "vocal"], env)
        download = [gsep_exe(), "-q", "download", job, "--stems", "vocal"]
        warm = tmp / "warm"
        timed([*download, "-o", str(warm)], env=env)  # the sandbox renders its stem once
        shutil.rmtree(warm)
        for case in (c for c in CASES if c.stems == 1):
            ours, theirs = [], []
            for n in range(runs):
                out = tmp / f"run{n}"
                ours.append(timed([*download, "-f", case.fmt, *case.args, "-o", str(out)], env=env))
                if not any(out.rglob(f"*.{case.fmt}")):
                    raise RuntimeError(f"gsep download -f {case.fmt} wrote no file")
                shutil.rmtree(out)
                start = time.perf_counter()
                timed([*download, "-f", "wav", "-o", str(out)], env=env)
                wav = next(out.rglob("*.wav"))
                timed(ffmpeg([wav], out / f"vocal.{case.fmt}", case))
                theirs.append(time.perf_counter() - start)
                shutil.rmtree(out)
            figure = f"gsep download -f {case.fmt} {' '.join(case.args)} (whole command)"
            rows.append(
                _ratio_row(figure.replace("  ", " "), ours, theirs, "download wav + ffmpeg")
            )
    return rows


CHILD = """
import sys
from pathlib import Path
from gsep_cli.audio.convert import convert
from gsep_cli.audio.formats import Rendering
fmt, rate, dest, *sources = sys.argv[1:]
convert([Path(s) for s in sources], Path(dest), fmt, Rendering(sample_rate=int(rate) or None))
"""


def memory(quick: bool) -> list[Row]:
    """Peak RSS of one conversion in a child process, a short and a long stem, gsep's and
    ffmpeg's; and gsep's long over short (flat: at most 1.1x)."""
    lengths = (180.0, 900.0) if quick else (180.0, 3600.0)
    kinds = [CASES[0], CASES[-1], CASES[-2]]  # flac, the mix, the resample
    peaks: dict[tuple[str, float], tuple[float, float]] = {}
    for seconds in lengths:
        with tempfile.TemporaryDirectory(prefix="gsep-bench-") as tmp_name:
            tmp = Path(tmp_name)
            flat, *parts = _stems(tmp, seconds)
            for case in kinds:
                sources = [str(p) for p in (parts if case.stems > 1 else [flat])]
                rate = str(case.rendering.get("sample_rate", 0))
                dest = tmp / f"out.{case.fmt}"
                child = [sys.executable, "-c", CHILD, case.fmt, rate, str(dest), *sources]
                ours = _peak_rss_mib(child, dict(os.environ))
                theirs = _peak_rss_mib(
                    ffmpeg(list(map(Path, sources)), dest, case), dict(os.environ)
                )
                peaks[case.label, seconds] = (ours, theirs)
    rows = []
    short, long = lengths
    for case in kinds:
        for seconds in lengths:
            ours, theirs = peaks[case.label, seconds]
            rows.append(
                Row(
                    f"peak RSS: {case.label}, {seconds / 60:g}-min stem",
                    f"{ours:.0f} MiB",
                    f"{theirs:.0f} MiB (ffmpeg)",
                    ours / theirs,
                    "reported",
                    None,
                )
            )
        growth = peaks[case.label, long][0] / peaks[case.label, short][0]
        rows.append(
            Row(
                f"peak RSS: {case.label}, {long / 60:g} min / {short / 60:g} min (gsep)",
                f"{peaks[case.label, long][0]:.0f} MiB",
                f"{peaks[case.label, short][0]:.0f} MiB",
                growth,
                "<= 1.1x (flat)",
                growth <= 1.1,
            )
        )
    return rows


MODEL = "gsep_music_hq_v1"
AUDIO_MODULES = ("numpy", "soundfile", "soxr", "_soundfile", "cffi", "gsep_cli.audio.convert")


def startup(quick: bool) -> list[Row]:
    """Start-up with the audio extra installed: no audio module is imported by ``gsep
    --version``, ``gsep separate --help``, one TAB of completion or ``gsep job status``;
    and, with ``GSEP_BENCH_NOAUDIO``, the times of ``--version`` and ``job status``
    against a gsep installed without the extra (interleaved, medians)."""
    runs = 7 if quick else 21
    other = os.environ.get("GSEP_BENCH_NOAUDIO")
    rows = []
    with sandbox("--job-seconds", "0") as box, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = env_for(box.base_url, tmp)
        song = music(tmp / "song.wav", 1.0)
        upload = _output([gsep_exe(), "upload", str(song)], env)
        job = _output([gsep_exe(), "job", "create", upload, "--stems", "vocal"], env)
        commands = {  # label: arguments, extra environment, timed with and without
            "gsep --version": (["--version"], {}, True),
            "gsep separate --help": (["separate", "--help"], {}, False),
            "one TAB (gsep download JOB --format)": ([], COMPLETION, False),
            "gsep job status JOB": (["job", "status", job, "--model", MODEL], {}, True),
        }
        for label, (args, extra, timed_too) in commands.items():
            loaded = _audio_imports([gsep_exe(), *args], {**env, **extra})
            rows.append(
                Row(
                    f"start-up: audio modules imported by {label}",
                    ", ".join(loaded) or "none",
                    "-",
                    None,
                    "none",
                    not loaded,
                )
            )
            if other and timed_too:
                figure = f"start-up: {label}, audio extra installed / not"
                mine, theirs = [gsep_exe(), *args], [other, *args]
                rows.append(
                    _compare(figure, mine, theirs, env, env, runs, "without the extra", 1.05)
                )
    return rows


def _audio_imports(command: list[str], env: dict[str, str]) -> list[str]:
    """The modules of :data:`AUDIO_MODULES` that ``command`` imports (Python's
    ``PYTHONPROFILEIMPORTTIME`` report on stderr)."""
    done = subprocess.run(
        command,
        env={**env, "PYTHONPROFILEIMPORTTIME": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    names = {
        line.rsplit("|", 1)[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    return sorted(names & set(AUDIO_MODULES))


def run(quick: bool) -> list[Row]:
    """All three: time, memory, start-up."""
    if shutil.which("ffmpeg") is None:
        raise SystemExit(
            "the convert benchmark needs ffmpeg on PATH (Debian: apt-get install ffmpeg)"
        )
    return speed(quick) + memory(quick) + startup(quick)
