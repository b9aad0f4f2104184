"""Packaging (issue 15): the tested dependency range, an sdist whose tests run, a wheel with
its license metadata and package data, and the installs users reach for (pip install of
the wheel alone, pipx install, uv tool install), each checked from a fresh folder.

The sdist and the wheel are built once per run (``python -m build``: the sdist, then the
wheel from the unpacked sdist, as a release does). Builds and installs talk to the package
registry only; gsep itself only talks to its sandbox on loopback.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from clitools import clean_env

import gsep_cli

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / ".ci" / "oldest-constraints.txt"
INSTALL_TIMEOUT = 600  # seconds: a cold package cache on a slow registry


# ---- the dependency range -------------------------------------------------------------------
#: The extras whose oldest versions the smoke run of .ci/run installs too (``.[test,postgres]``;
#: the test extra's tools are not gsep's dependencies, so have no oldest version to keep).
PINNED_EXTRAS = ("postgres",)


def _lower_bounds() -> dict[str, str]:
    """{name: version} of every ``name>=version`` in pyproject's runtime dependencies and
    in the :data:`PINNED_EXTRAS`."""
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11")
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    found = {}
    for text in [*project["dependencies"], *(t for e in PINNED_EXTRAS for t in extras[e])]:
        req = Requirement(text)
        lows = [s.version for s in req.specifier if s.operator == ">="]
        assert len(lows) == 1, f"{text}: one lower bound (>=), tested in .ci/run"
        found[req.name.lower()] = lows[0]
    return found


def _pins() -> dict[str, str]:
    """{name: version} of every ``name==version`` line of the oldest constraints."""
    pins = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{line!r}: pin an exact version"
            pins[name.strip().lower()] = version.strip()
    return pins


def _same_version(a: str, b: str) -> bool:
    from packaging.version import Version

    return Version(a) == Version(b)


def test_the_smoke_run_installs_the_pinned_extras() -> None:
    """The extras checked against the pins are the ones .ci/run installs with them."""
    run = ROOT / ".ci" / "run"
    if not run.exists():
        pytest.skip(".ci/run is not in the sdist (only the constraints are)")
    script = run.read_text(encoding="utf-8")
    installs = re.findall(r'-c \.ci/oldest-constraints\.txt "\.\[([\w,]+)\]"', script)
    assert len(installs) == 1, installs
    assert set(installs[0].split(",")) == {"test", *PINNED_EXTRAS}


def test_oldest_constraints_pin_every_lower_bound() -> None:
    """The smoke run of .ci/run installs exactly the oldest versions pyproject allows: a
    raised bound without its pin (or the reverse) would leave the range untested."""
    bounds, pins = _lower_bounds(), _pins()
    assert set(bounds) <= set(pins), f"not pinned: {sorted(set(bounds) - set(pins))}"
    for name, low in bounds.items():
        assert _same_version(pins[name], low), f"{name}: pinned {pins[name]}, allowed >={low}"


# ---- building once per run --------------------------------------------------------------------
@dataclass
class Dists:
    sdist: Path
    wheel: Path


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path``: xdist's workers build and install things once."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(args: list[str], what: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run ``args``; on failure, fail the test with the tail of what it printed."""
    done = subprocess.run(
        args, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False, **kwargs
    )
    if done.returncode != 0:
        tail = f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        pytest.fail(f"{what} failed (exit {done.returncode}):\n{tail}")
    return done


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A folder this run's xdist workers share (the run's own base folder without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base if worker_id == "master" else base.parent


@pytest.fixture(scope="session")
def dists(shared_dir: Path) -> Dists:
    """The sdist and the wheel built from it, once per run."""
    pytest.importorskip("build", reason="the test extra's `build` is not installed")
    out = shared_dir / "gsep-dists"
    with _locked(shared_dir / "gsep-dists.lock"):
        if not list(out.glob("*.whl")):
            # from a copy without the build's leftovers: setuptools would take the file list
            # of an old *.egg-info/SOURCES.txt, hiding what MANIFEST.in leaves out
            src = shared_dir / "gsep-source"
            shutil.rmtree(src, ignore_errors=True)
            leftovers = ("*.egg-info", "__pycache__", ".git", "build", "dist", ".*cache", "*venv")
            shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(*leftovers))
            _run([sys.executable, "-m", "build", "--outdir", str(out), str(src)], "build")
    (sdist,) = out.glob("gsep_cli-*.tar.gz")
    (wheel,) = out.glob("gsep_cli-*.whl")
    return Dists(sdist, wheel)


# ---- the sdist ------------------------------------------------------------------------------
def _sdist_names(sdist: Path) -> set[str]:
    """Member paths of the sdist, without its top folder."""
    with tarfile.open(sdist) as tar:
        return {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}


@pytest.mark.slow
def test_sdist_carries_license_docs_and_every_test_file(dists: Dists) -> None:
    names = _sdist_names(dists.sdist)
    for needed in (
        "LICENSE",
        "README.md",
        "CHANGELOG.md",
        "pyproject.toml",
        "tests/conftest.py",
        "tests/clitools.py",
        ".ci/oldest-constraints.txt",
    ):
        assert needed in names, f"{needed} is not in {dists.sdist.name}"
    # every file of the checkout's tests/ and completions/ (helpers, benchmarks, data)
    for folder in ("tests", "completions"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                rel = path.relative_to(ROOT).as_posix()
                assert rel in names, f"{rel} is not in {dists.sdist.name}"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


@pytest.mark.slow
def test_sdist_tests_collect_without_errors_and_a_subset_passes(
    dists: Dists, tmp_path: Path
) -> None:
    with tarfile.open(dists.sdist) as tar:
        if hasattr(tarfile, "data_filter"):  # 3.10.12+, 3.11.4+
            tar.extractall(tmp_path, filter="data")
        else:
            tar.extractall(tmp_path)  # our own sdist, just built
    (top,) = tmp_path.iterdir()
    env = clean_env(tmp_path / "env")

    def pytest_in_sdist(*args: str) -> str:
        """pytest (one process) in the unpacked sdist; what it printed, once it passed."""
        pytest_args = ["-p", "no:cacheprovider", "-n", "0", "-q", *args]
        return _run(
            [sys.executable, "-m", "pytest", *pytest_args], "pytest", cwd=top, env=env
        ).stdout

    collected = pytest_in_sdist("--collect-only")
    assert not re.search(r"\d+ errors?\b", collected), collected[-3000:]
    modules = {line.split("::")[0] for line in collected.splitlines() if "::" in line}
    shipped = {p.relative_to(top).as_posix() for p in (top / "tests").glob("test_*.py")}
    assert modules == shipped  # every test module of the sdist collects at least one test
    ran = pytest_in_sdist(
        "tests/test_exit_codes.py",
        "tests/test_completion.py",
        "tests/test_packaging.py::test_oldest_constraints_pin_every_lower_bound",
    )
    assert re.search(r"\b\d+ passed\b", ran) and "skipped" not in ran, ran


# ---- the wheel ------------------------------------------------------------------------------
@pytest.mark.slow
def test_wheel_carries_license_metadata_classifiers_and_package_data(dists: Dists) -> None:
    with zipfile.ZipFile(dists.wheel) as whl:
        names = set(whl.namelist())
        (meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = whl.read(meta_name).decode("utf-8")
        dist_info = meta_name.rsplit("/", 1)[0]
        license_text = whl.read(f"{dist_info}/licenses/LICENSE").decode("utf-8")
    fields = [line.partition(": ") for line in meta.split("\n\n", 1)[0].splitlines()]
    header = [(key, value) for key, _, value in fields]
    assert ("License-Expression", "MIT") in header
    assert ("License-File", "LICENSE") in header
    assert license_text == (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "MIT License" in license_text and "gsep developers" in license_text
    classifiers = {value for key, value in header if key == "Classifier"}
    running = f"Programming Language :: Python :: {sys.version_info[0]}.{sys.version_info[1]}"
    assert running in classifiers  # the version this (CI's) run tests on
    assert any(c.startswith("Development Status :: ") for c in classifiers)
    data = {p.relative_to(ROOT).as_posix() for p in (ROOT / "gsep_cli" / "data").iterdir()}
    assert data and data <= names, sorted(data - names)
    assert "gsep_cli/py.typed" in names
    assert not [n for n in names if n.startswith("tests/")]


# ---- installs users reach for -----------------------------------------------------------------
def _check_installed(bin_dir: Path, tmp_path: Path) -> None:
    """From an empty folder, with ``bin_dir`` first on PATH and no gsep source around:
    ``gsep --version`` and the README's first command on the sandbox (vocal only)."""
    cwd = tmp_path / "work"
    cwd.mkdir()
    path = os.pathsep.join([str(bin_dir), "/usr/bin", "/bin"])
    env = clean_env(tmp_path / "env", PATH=path, PYTHONPATH=None, VIRTUAL_ENV=None)
    assert shutil.which("gsep", path=path) == str(bin_dir / "gsep")

    def sh(command: str) -> subprocess.CompletedProcess[str]:
        return _run(["sh", "-c", command], command, cwd=cwd, env=env)

    assert sh("gsep --version").stdout == f"gsep {gsep_cli.__version__}\n"
    done = sh('gsep --sandbox separate "$(gsep sandbox example)" --stems vocal')
    assert "Traceback" not in done.stderr
    written = [cwd / line for line in done.stdout.splitlines()]
    assert written and all(p.is_file() and p.stat().st_size > 44 for p in written), done.stdout
    assert [p.stem for p in written] == ["vocal"]


def _pip(venv: Path) -> list[str]:
    """pip (this Python's) installing into ``venv``: the same as the venv's own pip, without
    the seconds it takes to put one there."""
    python = str(venv / "bin" / "python")
    return [sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check", "-q"]


def _tool(name: str, shared_dir: Path) -> Path:
    """``name`` (pipx or uv) from PATH, else pip-installed once per run into a venv of its
    own; skips with the reason when neither works."""
    found = shutil.which(name) or shutil.which(name, path=os.path.dirname(sys.executable))
    if found:
        return Path(found)
    venv = shared_dir / f"tool-{name}"
    with _locked(shared_dir / f"tool-{name}.lock"):
        if not (venv / "bin" / name).exists():
            steps = [
                [sys.executable, "-m", "venv", "--without-pip", str(venv)],
                [*_pip(venv), "install", name],
            ]
            for step in steps:
                done = subprocess.run(
                    step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
                )
                if done.returncode != 0:
                    tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
                    pytest.skip(f"{name} is not on PATH and `pip install {name}` failed: {tail}")
    return venv / "bin" / name


@pytest.fixture
def tool(shared_dir: Path) -> Callable[[str], Path]:
    """``tool("uv")``: the path of an installer tool (see :func:`_tool`)."""
    return lambda name: _tool(name, shared_dir)


@pytest.mark.slow
def test_pip_install_of_the_wheel_alone_beside_the_newest_typer(
    dists: Dists, tmp_path: Path
) -> None:
    """A fresh venv that already has the newest typer: installing gsep keeps it (no
    downgrade, ``pip check`` clean) and gsep works from an empty folder."""
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], "python -m venv")
    pip = _pip(venv)
    _run([*pip, "install", "typer"], "pip install typer")
    version = [
        f"{venv}/bin/python",
        "-c",
        "import importlib.metadata as m; print(m.version('typer'))",
    ]
    newest_typer = _run(version, "typer's version").stdout
    _run([*pip, "install", str(dists.wheel)], "pip install of the wheel")
    assert _run(version, "typer's version").stdout == newest_typer
    _run([*pip, "check"], "pip check")
    _check_installed(venv / "bin", tmp_path)


@pytest.mark.slow
def test_pipx_install(dists: Dists, tool: Callable[[str], Path], tmp_path: Path) -> None:
    pipx = tool("pipx")
    home, bin_dir = tmp_path / "pipx", tmp_path / "pipx-bin"
    env = clean_env(
        tmp_path / "env",
        PIPX_HOME=str(home),
        PIPX_BIN_DIR=str(bin_dir),
        PIPX_MAN_DIR=str(tmp_path / "pipx-man"),
    )
    _run(
        [str(pipx), "install", "--python", sys.executable, str(dists.wheel)],
        "pipx install",
        env=env,
    )
    _check_installed(bin_dir, tmp_path)


@pytest.mark.slow
def test_uv_tool_install(dists: Dists, tool: Callable[[str], Path], tmp_path: Path) -> None:
    uv = tool("uv")
    bin_dir = tmp_path / "uv-bin"
    env = clean_env(
        tmp_path / "env",
        UV_TOOL_DIR=str(tmp_path / "uv-tools"),
        UV_TOOL_BIN_DIR=str(bin_dir),
        UV_PYTHON_DOWNLOADS="never",
    )
    _run(
        [str(uv), "tool", "install", "--python", sys.executable, str(dists.wheel)],
        "uv tool install",
        env=env,
    )
    _check_installed(bin_dir, tmp_path)
