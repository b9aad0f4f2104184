"""The public Python API (README "Python"): what ``import gsep_cli`` offers is importable,
documented, cheap to import, and works with neither typer nor rich installed."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from clitools import clean_env

import gsep_cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
PUBLIC = [name for name in gsep_cli.__all__ if name != "__version__"]


def _python(code: str, env: dict[str, str], cwd: Path | None = None) -> str:
    """Run ``code`` in a fresh interpreter; its stdout (it must succeed)."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_imports_and_has_its_own_docstring(name: str) -> None:
    value = getattr(gsep_cli, name)
    assert value is getattr(gsep_cli, name)  # cached after the first import
    doc = vars(value).get("__doc__") if isinstance(value, type) else value.__doc__
    assert doc and doc.strip(), f"gsep_cli.{name} has no docstring of its own"


def test_the_public_names_are_all_and_only_those_listed() -> None:
    assert dir(gsep_cli) == sorted(gsep_cli.__all__)
    assert isinstance(gsep_cli.__version__, str)
    with pytest.raises(AttributeError, match="no attribute 'separate'"):
        gsep_cli.separate  # noqa: B018  (only the listed names: no module internals)


@pytest.mark.parametrize("name", [n for n in PUBLIC if n.endswith(("Error", "ed", "Out", "Url"))])
def test_each_error_class_has_an_exit_code_and_a_hint(name: str) -> None:
    cls = getattr(gsep_cli, name)
    if not (isinstance(cls, type) and issubclass(cls, gsep_cli.GsepError)):
        pytest.skip(f"{name} is not an error class")
    error = cls("what went wrong")
    assert isinstance(error.exit_code, gsep_cli.ExitCode)
    assert error.message == str(error) == "what went wrong"
    assert error.hint is None and error.what_to_do  # the class's default hint


#: Each step's docstring must say what it costs, writes or raises (the words a user needs).
DOCUMENTED = [
    ("GsepClient", None, ["api_key", "listener", "seconds", "credits"]),
    ("GsepClient", "upload_file", ["upload id", "Raises", "InputChanged", "credits"]),
    ("GsepClient", "create_job", ["Spends credits", "Raises", "AccountError", "job id"]),
    ("GsepClient", "get_job", ["Job", "Raises", "RequestRejected"]),
    ("GsepClient", "wait", ["seconds", "JobFailed", "WaitTimeout"]),
    ("GsepClient", "download", ["writes files", "WrittenFile", "Raises", "credits"]),
    ("GsepClient", "key_info", ["dict", "Raises", "AuthError"]),
    ("Session", None, ["sandbox", "listener", "close"]),
    ("Session", "separate", ["credits", "ledger", "TypeError", "UsageError", "on_result"]),
    ("Listener", None, ["thread-safe", "bytes", "seconds"]),
    ("Sandbox", None, ["job_seconds", "credits", "faults", "requests", "job_count"]),
    ("InputResult", None, ["status", "reused", "error", "files"]),
    ("WrittenFile", None, ["path", "bytes", "sha256", "skipped"]),
    ("Job", None, ["status", "expire_at", "outputs"]),
    ("GsepError", None, ["message", "hint", "exit_code", "what_to_do"]),
]


@pytest.mark.parametrize(("name", "method", "words"), DOCUMENTED)
def test_public_docstrings_say_types_costs_and_errors(
    name: str, method: str | None, words: list[str]
) -> None:
    target: Any = getattr(gsep_cli, name)
    if method is not None:
        target = getattr(target, method)
    doc = " ".join(inspect.getdoc(target).split())
    missing = [w for w in words if w not in doc]
    assert not missing, f"{name}.{method or ''}'s docstring lacks {missing}"


def test_the_readme_python_section_names_every_public_name() -> None:
    section = README.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    missing = [n for n in PUBLIC if not re.search(rf"\b{n}\b", section)]
    assert not missing, f"README's Python section does not name {missing}"


def test_import_gsep_cli_imports_no_cli_or_http_library(tmp_path: Path) -> None:
    heavy = ("typer", "rich", "click", "requests", "urllib3")
    out = _python(
        f"""
        import sys
        import gsep_cli
        first = sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r})
        gsep_cli.GsepError, gsep_cli.ExitCode, gsep_cli.Listener  # light names stay light
        then = sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r})
        gsep = sorted(m for m in sys.modules if m.startswith('gsep_cli'))
        print(first, then, gsep)
        """,
        clean_env(tmp_path),
    )
    assert out.split() == ["[]", "[]", "['gsep_cli',", "'gsep_cli.errors',", "'gsep_cli.progress']"]


@pytest.mark.slow
def test_the_library_separates_with_typer_and_rich_absent(tmp_path: Path) -> None:
    """``Session(sandbox=True).separate`` in an interpreter where importing typer, rich
    or click fails, as if they were not installed."""
    from gsep_cli.sandbox.example import EXAMPLE_CLIP

    env = clean_env(tmp_path, GSEP_SANDBOX_JOB_SECONDS="0")
    out = _python(
        f"""
        import sys
        for name in ("typer", "rich", "click"):
            sys.modules[name] = None  # import typer -> ImportError
        try:
            import rich
        except ImportError:
            pass
        else:
            raise SystemExit("rich still imports")
        import gsep_cli
        with gsep_cli.Session(sandbox=True) as session:
            first, = session.separate({str(EXAMPLE_CLIP)!r}, stems="vocal", out_dir="out")
            again, = session.separate({str(EXAMPLE_CLIP)!r}, stems="vocal", out_dir="out")
        print(first.status, again.reused, *[f.path.as_posix() for f in first.files])
        """,
        env,
        cwd=tmp_path,
    )
    assert out.split() == ["success", "job", "out/example/vocal.wav"]
    assert (tmp_path / "out" / "example" / "vocal.wav").stat().st_size > 44
    assert os.path.isdir(tmp_path / "state" / "sandbox")  # the sandbox's own ledger
