"""Writing a finished job's result files: band-filtered WAV stems with a silent MP3 of each,
or the lyrics CSV and report; each with its size and MD5.

A WAV input is rendered as it is; a FLAC or MP3 input is first decoded (with the audio
extra, :mod:`.decode`) to a temporary PCM file in the job's result folder, removed once
the stems are written. Inputs with no decoder (M4A/MP4, MOV; any compressed input without
the extra) and inputs libsndfile fails on (or decodes to another length than the job's
checks measured) get silent WAV stems of the input's length: the job's checks accepted
them, as the service would, so the sandbox does not fail them. A render error of a WAV
input (MediaError) propagates: the download that asked for the results answers 500.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from .. import media
from ..models import RESIDUAL
from . import decode, render, silence
from .state import Result, SandboxJob, UploadReader

DECODED_NAME = ".decoded.pcm"
"""The temporary PCM of a decoded input, in the job's result folder (never a result)."""


def render_results(
    job: SandboxJob, folder: Path, open_upload: Callable[[str], UploadReader]
) -> dict[tuple[str, str], Result]:
    """Write every result file of ``job`` into ``folder``; return them by (output, format).

    ``open_upload`` opens a stored upload, by id, as one seekable file.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[tuple[str, str], Path] = {}
    if job.model == "gts_lyrics_line_v1":
        paths.update(_render_lyrics(job, folder, open_upload))
    else:
        wav_paths = {name: folder / f"{name}.wav" for name in job.outputs}
        handles = {name: open(path, "wb") for name, path in wav_paths.items()}  # noqa: SIM115
        try:
            with open_upload(job.upload_id) as reader:
                _render_wavs(job, reader, handles, folder)
        finally:
            for handle in handles.values():
                handle.close()
        for name, path in wav_paths.items():
            paths[(name, "wav")] = path
            mp3 = folder / f"{name}.mp3"
            with open(mp3, "wb") as fh:
                silence.write_mp3(fh, job.audio_seconds, channels=2)
            paths[(name, "mp3")] = mp3
    results = {}
    for key, path in paths.items():
        results[key] = Result(path, path.stat().st_size, _md5_of(path))
    return results


def _render_wavs(
    job: SandboxJob, reader: UploadReader, handles: Mapping[str, BinaryIO], folder: Path
) -> None:
    stems = [n for n in job.outputs if n != RESIDUAL]
    if job.kind == "wav":
        media.skip_id3v2(reader)  # as checks.check_media read it
        info = media.parse_wav(reader)
        render.render_wav_stems(reader, info, stems, handles)  # type: ignore[arg-type]
        return
    pcm_path = folder / DECODED_NAME
    try:
        with open(pcm_path, "w+b") as pcm:
            try:
                decoded = decode.decode_pcm(
                    reader,  # type: ignore[arg-type]
                    job.kind,
                    pcm,
                    seconds=job.audio_seconds,
                )
            except media.MediaError:  # the service took it; libsndfile cannot read it
                decoded = None
            if decoded is not None:
                pcm.flush()
                render.render_wav_stems(pcm, decoded, stems, handles)
                return
    finally:
        pcm_path.unlink(missing_ok=True)
    for handle in handles.values():  # no decoder for this input: silence
        silence.write_silent_wav(handle, job.audio_seconds)


def _render_lyrics(
    job: SandboxJob, folder: Path, open_upload: Callable[[str], UploadReader]
) -> Iterator[tuple[tuple[str, str], Path]]:
    with open_upload(job.text_upload_id or "") as reader:
        lines = [ln.strip() for ln in reader.read().decode("utf-8-sig").splitlines()]
    lines = [ln for ln in lines if ln]
    step = job.audio_seconds / max(1, len(lines))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["timestamp", "lyric_text", "confidence_score"])
    for i, line in enumerate(lines):
        writer.writerow([f"{i * step:.3f}", line, "0.99"])
    csv_path = folder / "lyrics.csv"
    csv_path.write_text(out.getvalue(), encoding="utf-8")
    report = {
        "language": job.language,
        "lines": len(lines),
        "sandbox": True,
        "note": "timestamps are evenly spaced; the sandbox does not align lyrics",
    }
    json_path = folder / "reports.json"
    json_path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    yield ("lyrics", "file"), csv_path
    yield ("reports", "file"), json_path


def _md5_of(path: Path) -> str:
    """MD5 of a result file, read in blocks (a long input's WAV stems exceed 1 GiB)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
