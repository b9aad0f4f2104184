#!/usr/bin/env bash
# The action's first step: install gsep into a virtualenv of its own under RUNNER_TEMP and
# name its gsep and python in GITHUB_OUTPUT (gsep=..., python=...) for the next step.
#
# Environment (action.yml maps the inputs): GSEP_ACTION_VERSION (empty: this action's own
# checkout, GITHUB_ACTION_PATH; a version number: gsep-cli==VERSION; else a pip
# requirement as it is), GSEP_ACTION_EXTRAS (comma-separated extras, e.g. audio).
# GSEP_ACTION_SKIP_INSTALL=1 takes the gsep already on PATH instead (a runner image that
# has it; the tests, which must not install from the network).
set -euo pipefail

fail() {  # a workflow error annotation (stderr: GitHub reads both streams), then exit 1
    printf '::error title=gsep action::%s\n' "$1" >&2
    exit 1
}

if [[ "${GSEP_ACTION_SKIP_INSTALL:-}" == 1 ]]; then
    gsep="$(command -v gsep)" || fail "GSEP_ACTION_SKIP_INSTALL=1, but there is no gsep on PATH"
    python="$(dirname "$gsep")/python"  # the interpreter of gsep's own virtualenv, if it has one
    [[ -x "$python" ]] || python="$(command -v python3 || command -v python)" ||
        fail "no python3 on PATH"
else
    base="$(command -v python3 || command -v python)" || fail "no python3 on PATH"
    venv="${RUNNER_TEMP:?RUNNER_TEMP is not set}/gsep-venv"
    "$base" -m venv "$venv"
    bin="$venv/bin"
    if [[ -d "$venv/Scripts" ]]; then
        bin="$venv/Scripts"  # Windows runners
    fi
    version="${GSEP_ACTION_VERSION:-}"
    extras="${GSEP_ACTION_EXTRAS:-}"
    extras="${extras// /}"
    if [[ -z "$version" ]]; then
        spec="${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set}"
        if [[ -n "$extras" ]]; then
            spec="${spec}[${extras}]"
        fi
    elif [[ "$version" =~ ^[0-9][0-9A-Za-z.!+-]*$ ]]; then
        spec="gsep-cli${extras:+[$extras]}==$version"
    else
        spec="$version"
    fi
    "$bin/python" -m pip install --quiet --disable-pip-version-check -- "$spec" >&2
    gsep="$bin/gsep"
    python="$bin/python"
fi

"$gsep" --version >&2
printf 'gsep=%s\npython=%s\n' "$gsep" "$python" >>"${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set}"
