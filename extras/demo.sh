#!/usr/bin/env bash
# Sets up, feeds extras/sample-feed.msgs (3 hosts x 4 cycles of cpu, disk and memory
# statuses) to rrdd with a fresh ./demo-rrd, and prints every RRD file it wrote with its
# data sources and last values. Exits non-zero if rrdd fails or writes nothing.
set -euo pipefail

here=$(dirname -- "${BASH_SOURCE[0]}")
bash "$here/setup.sh"
cd -- "$here/.."

dir=demo-rrd
feed=extras/sample-feed.msgs

rm -rf -- "$dir"
mkdir -- "$dir"
printf 'demo: .venv/bin/rrdd --rrddir=%s < %s\n' "$dir" "$feed"
rc=0
.venv/bin/rrdd --rrddir="$dir" <"$feed" || rc=$?
if ((rc)); then
    printf 'demo: rrdd failed (exit %d)\n' "$rc" >&2
    exit "$rc"
fi

mapfile -t files < <(find "$dir" -type f -name '*.rrd' -printf '%P\n' | LC_ALL=C sort)
if ((${#files[@]} == 0)); then
    printf 'demo: rrdd wrote no RRD file under %s/\n' "$dir" >&2
    exit 1
fi

width=4
for f in "${files[@]}"; do
    if ((${#f} > width)); then width=${#f}; fi
done

printf '\ndemo: %d RRD files under %s/\n\n' "${#files[@]}" "$dir"
printf '%-*s  %-19s  %s\n' "$width" FILE 'LAST UPDATE (UTC)' 'DS=VALUE ...'
for f in "${files[@]}"; do
    # `rrdtool lastupdate` prints the DS names, a blank line, then "TIME: V1 V2 ...".
    out=$(rrdtool lastupdate "$dir/$f")
    read -r -a names <<<"$(head -n 1 <<<"$out")"
    last=$(grep -E '^[0-9]+:' <<<"$out" | tail -n 1)
    read -r -a values <<<"${last#*:}"
    when=$(date -u -d "@${last%%:*}" '+%Y-%m-%d %H:%M:%S')
    pairs=()
    for i in "${!names[@]}"; do
        pairs+=("${names[i]}=${values[i]-?}")
    done
    printf '%-*s  %-19s  %s\n' "$width" "$f" "$when" "${pairs[*]}"
done
