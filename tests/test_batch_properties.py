"""Any batch either is refused before any request, or pays once per work and writes every
input's outputs to paths of their own.

Random names, folders, identical or different contents and templates, through the CLI
against one sandbox: either preflight refuses (exit 2) and the sandbox saw no request, or
every output path is distinct, every input's outputs are on disk, and the number of jobs
created equals the number of distinct (content, model, stems).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from clitools import FAST_ENV, make_wav
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gsep_cli import cli
from gsep_cli.sandbox import Sandbox

FOLDERS = ["", "a", "b", "a/x", "b/x"]
NAMES = ["song", "Song", "a b", "ünï", "x" * 120, "канцона", "1"]
TEMPLATES = [
    "{track}/{stem}.{ext}",
    "{dir}/{track}/{stem}.{ext}",
    "{track}_{stem}.{ext}",
    "{job}/{stem}.{ext}",
    "{stem}/{track}.{ext}",
    "{track}.{ext}",
    "{dir}_{track}/{stem}.{ext}",
    "{trackext}/{track}/{stem}.{ext}",
]

inputs = st.lists(
    st.tuples(st.sampled_from(FOLDERS), st.sampled_from(NAMES), st.integers(0, 2)),
    min_size=1,
    max_size=4,
)


@pytest.fixture(scope="module")
def sandbox_options() -> dict[str, Any]:
    # jobs that end at once and one part per input: the property is about paying, not waiting
    return {"job_seconds": 0, "chunk_size": 1 << 20, "rate_limit": 0}


class Contents(list[bytes]):
    """Three distinct WAV files' bytes (a short repr for hypothesis' reports)."""

    def __repr__(self) -> str:
        return f"<{len(self)} WAV contents>"


@pytest.fixture(scope="module")
def contents() -> Contents:
    with tempfile.TemporaryDirectory() as folder:
        return Contents(
            make_wav(Path(folder) / f"{i}.wav", seconds=0.05 + 0.01 * i).read_bytes()
            for i in range(3)
        )


@pytest.mark.slow
@given(
    batch=inputs,
    template=st.sampled_from(TEMPLATES),
    stems=st.sampled_from(["vocal", "vocal,drum"]),
)
@settings(
    max_examples=int(os.environ.get("GSEP_PROPERTY_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_a_batch_is_refused_before_any_request_or_pays_once_per_work(
    shared_sandbox: Sandbox,  # one for every example: each counts what it added
    contents: Contents,
    batch: list[tuple[str, str, int]],
    template: str,
    stems: str,
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        wanted: dict[str, int] = {}
        for sub, name, content in batch:
            rel = str(Path(sub) / f"{name}.wav")
            wanted[rel] = content  # the same path twice: the last content wins
        for rel, content in wanted.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(contents[content])
        env = {"PATH": os.environ.get("PATH", ""), **FAST_ENV}
        env.update(
            GSEP_CONFIG_DIR=str(root / ".config"),
            GSEP_STATE_DIR=str(root / ".state"),
            GSEP_API_KEY="property-key-5150",
            GSEP_BASE_URL=shared_sandbox.base_url,
        )
        shared_sandbox.clear_requests()
        jobs_before = shared_sandbox.store.job_count()
        args = ["--json", "-q", "separate", *wanted, "--stems", stems]
        args += ["--name-template", template, "-o", "out", "--jobs", "3"]
        out, err = io.StringIO(), io.StringIO()
        with (
            mock.patch.dict(os.environ, env, clear=True),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            contextlib.chdir(root),
        ):
            code = cli.run(args)
        if code == 2:
            assert shared_sandbox.requests == [], err.getvalue()
            assert "gsep: error:" in err.getvalue()
            return
        assert code == 0, err.getvalue()
        documents = [json.loads(line) for line in out.getvalue().splitlines()]
        assert sorted(d["input"] for d in documents) == sorted(wanted)
        written = [f["path"] for d in documents for f in d["files"]]
        assert len(written) == len(set(written))  # every output path is distinct
        per_input = len(stems.split(","))
        assert all(len(d["files"]) == per_input for d in documents)
        assert all((root / path).is_file() for path in written)
        assert shared_sandbox.store.job_count() - jobs_before == len(set(wanted.values()))
