#!/usr/bin/env bash
# The action's second step: run `gsep --json separate` on the inputs, with its ledger in
# GSEP_ACTION_LEDGER_DIR (GSEP_STATE_DIR: a folder the workflow caches, so a re-run finds
# its jobs on record and never pays again), then set the outputs `paths` and `job-ids`
# from its JSON lines, and exit with gsep's exit code.
#
# Environment (action.yml maps the inputs here: its run: lines carry no expression):
# GSEP_ACTION_GSEP, GSEP_ACTION_PYTHON (from the install step), GSEP_ACTION_FILES (one
# input per line; a line with * ? or [ is a bash glob, ** at any depth; a glob that matches
# nothing is given as it is, and gsep says it is missing), GSEP_ACTION_STEMS,
# GSEP_ACTION_FORMAT, GSEP_ACTION_OUTPUT, GSEP_ACTION_MODEL, GSEP_ACTION_ARGS (split as a
# shell splits words, quotes included; nothing expanded), GSEP_ACTION_LEDGER_DIR (empty:
# RUNNER_TEMP/gsep-state). The key: GSEP_API_KEY from the workflow's env (a secret).
# Under GitHub Actions gsep itself adds the step summary and the ::error annotations.
set -euo pipefail

gsep="${GSEP_ACTION_GSEP:?GSEP_ACTION_GSEP is not set (the install step names it)}"
python="${GSEP_ACTION_PYTHON:?GSEP_ACTION_PYTHON is not set (the install step names it)}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

ledger="${GSEP_ACTION_LEDGER_DIR:-${RUNNER_TEMP:?RUNNER_TEMP is not set}/gsep-state}"
(umask 077 && mkdir -p -- "$ledger")  # private, as gsep wants its ledger's folder (else it
# warns on every run that other users can read it)
export GSEP_STATE_DIR="$ledger"

inputs=()
shopt -s globstar nullglob
while IFS= read -r line || [[ -n "$line" ]]; do
    line="${line%$'\r'}"
    [[ -z "${line//[[:space:]]/}" ]] && continue
    if [[ "$line" == *[\*\?\[]* ]]; then
        saved_ifs="$IFS"
        IFS=''  # no word splitting: a line is one pattern, spaces and all
        # shellcheck disable=SC2206  # the pathname expansion is wanted
        matches=($line)
        IFS="$saved_ifs"
        if ((${#matches[@]})); then
            inputs+=("${matches[@]}")
            continue
        fi
    fi
    inputs+=("$line")
done <<<"${GSEP_ACTION_FILES:-}"
shopt -u globstar nullglob
if ((${#inputs[@]} == 0)); then
    printf '::error title=gsep action::no input: the files input is empty\n' >&2
    exit 2
fi

options=()
[[ -n "${GSEP_ACTION_STEMS:-}" ]] && options+=(--stems "$GSEP_ACTION_STEMS")
[[ -n "${GSEP_ACTION_FORMAT:-}" ]] && options+=(--format "$GSEP_ACTION_FORMAT")
[[ -n "${GSEP_ACTION_OUTPUT:-}" ]] && options+=(--output "$GSEP_ACTION_OUTPUT")
[[ -n "${GSEP_ACTION_MODEL:-}" ]] && options+=(--model "$GSEP_ACTION_MODEL")
extra=()
if [[ -n "${GSEP_ACTION_ARGS:-}" ]]; then
    words="$(mktemp "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/gsep-args.XXXXXX")"
    "$python" "$here/outputs.py" split-args "$GSEP_ACTION_ARGS" >"$words"  # stops on bad quotes
    mapfile -d '' -t extra <"$words"
    rm -f -- "$words"
fi

results="$(mktemp "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/gsep-results.XXXXXX")"
set +e
"$gsep" --json separate "${options[@]}" "${extra[@]}" -- "${inputs[@]}" | tee "$results"
code="${PIPESTATUS[0]}"
set -e

"$python" "$here/outputs.py" outputs "$results" >>"${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set}"
rm -f -- "$results"
exit "$code"
