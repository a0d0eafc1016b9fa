#!/bin/sh
# Every benchmark of the write path (issue 6) at moderate sizes, with its ratios, and
# the fleet against the real xymond_rrd from cold and in steady state (issues 16 and
# 21) at their size: about eight minutes on a 2-core machine. Needs rrdcached and
# strace on PATH, and the interpreter of the venv rrdd is installed in (its `rrdd`
# command beside it):
#
#     PYTHON=.venv/bin/python bench/run.sh
#
# Full sizes: bench/write.py 1000 12 3, bench/memory.py 20000, bench/breakdown.py
# 1000 8; bench/fleet.py 1000 8 --runs=3 for medians. The fleet's baseline is Debian's
# xymond_rrd (the xymon package); XYMOND=/path/to/xymond_rrd takes another.
set -e
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
for tool in rrdcached strace; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is not on PATH" >&2; exit 1; }
done

bench() {
    echo
    echo "== bench/$*"
    script=$1
    shift
    "$PY" "bench/$script" "$@"
}

bench parse.py 1000
bench write.py 200 12 3
bench write.py --reference 200 12 3
bench syscalls.py 20 12
bench memory.py 20000
bench shutdown.py 400 10
bench breakdown.py 300 8
if [ -n "$XYMOND" ]; then
    bench fleet.py 1000 8 --xymond="$XYMOND"
else
    bench fleet.py 1000 8
fi
