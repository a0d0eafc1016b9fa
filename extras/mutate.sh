#!/usr/bin/env bash
# Mutation testing of rrdd's core modules with cosmic-ray (extras/mutate.py says how):
#   bash extras/mutate.sh [MODULE...] [--resume | --again | --report] [--timeout SECONDS] [--workers 1|2]
# Slow (see bench/RESULTS.md, "Mutation testing"), so not part of extras/test.sh. Niced,
# and two workers at most: the machine is shared.
set -euo pipefail

here=$(dirname -- "${BASH_SOURCE[0]}")
bash "$here/setup.sh"
cd -- "$here/.."
exec nice -n 10 .venv/bin/python extras/mutate.py "$@"
