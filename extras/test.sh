#!/usr/bin/env bash
# The whole check, as CI runs it: set-up, then ruff format, ruff lint, mypy and pytest.
# Stops at the first step that fails and exits with that step's code.
set -euo pipefail

here=$(dirname -- "${BASH_SOURCE[0]}")
bash "$here/setup.sh"
cd -- "$here/.."

dirs=()
for d in rrdd tests bench extras; do
    [[ -d $d ]] && dirs+=("$d")
done

step() {
    printf '\n== %s\n' "$*"
    local rc=0
    "$@" || rc=$?
    if ((rc)); then
        printf 'test: FAILED (exit %d): %s\n' "$rc" "$*" >&2
        exit "$rc"
    fi
}

step .venv/bin/ruff format --check "${dirs[@]}"
step .venv/bin/ruff check "${dirs[@]}"
step .venv/bin/mypy
step .venv/bin/pytest
printf '\ntest: all passed\n'
