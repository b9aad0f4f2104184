"""Helpers of the action's run step (action/run.sh), run by the Python gsep is installed in.

``outputs.py split-args TEXT``: TEXT split as a shell splits words (quotes honoured,
nothing expanded), written NUL-separated (bash reads it with ``mapfile -d ''``).

``outputs.py outputs RESULTS``: the JSON lines ``gsep --json separate`` wrote to RESULTS
(one per input: ``jobId``, ``files[].path``; README, "Output contract") as GitHub's
step outputs ``paths`` and ``job-ids`` — each one value per line, in GITHUB_OUTPUT's
multiline form ``NAME<<DELIMITER`` with a random delimiter no value contains.
"""

from __future__ import annotations

import json
import secrets
import shlex
import sys


def multiline(name: str, values: list[str]) -> str:
    """``name<<DELIM``, the values one per line, ``DELIM``: one GITHUB_OUTPUT entry."""
    text = "\n".join(values)
    delimiter = f"gsep_{secrets.token_hex(16)}"
    while delimiter in text:  # as good as impossible; never ends an output early
        delimiter = f"gsep_{secrets.token_hex(16)}"
    return f"{name}<<{delimiter}\n{text}\n{delimiter}\n"


def outputs(results: str) -> str:
    """The ``paths`` and ``job-ids`` entries for the JSON lines in the file ``results``."""
    paths: list[str] = []
    jobs: list[str] = []
    with open(results, encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            document = json.loads(line)
            job = document.get("jobId")
            if job and job not in jobs:
                jobs.append(job)
            paths.extend(f["path"] for f in document.get("files") or ())
    return multiline("paths", paths) + multiline("job-ids", jobs)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "split-args":
        try:
            words = shlex.split(argv[1])
        except ValueError as exc:  # an unclosed quote: refused before gsep runs
            print(f"::error title=gsep action::args: {exc} — close the quote", file=sys.stderr)
            return 2
        sys.stdout.write("".join(f"{word}\0" for word in words))
        return 0
    if len(argv) == 2 and argv[0] == "outputs":
        sys.stdout.write(outputs(argv[1]))
        return 0
    print("usage: outputs.py split-args TEXT | outputs RESULTS", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
