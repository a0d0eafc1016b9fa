#!/usr/bin/env bash
# Brings a Debian 12 machine (root, apt-get and bash, nothing else assumed) to the point where
# rrdd runs and its tests pass: Debian packages, a venv at .venv made with Debian's python3,
# and an editable install of rrdd with its web and test extras.
#
# Idempotent and quick on a re-run: apt is skipped when every package is installed, pip when
# .venv/.rrdd-setup holds the hash of the pyproject.toml it was run for.
set -euo pipefail

cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."
root=$(pwd -P)

# xymon: the tests run its xymond_rrd, xymond, xymond_channel, client and showgraph.cgi;
# chromium: the web view's tests drive it headless
packages=(python3 python3-venv python3-dev gcc pkg-config librrd-dev rrdtool rrdcached faketime xymon
    chromium chromium-driver)
venv=.venv
stamp=$venv/.rrdd-setup # sha256 of the pyproject.toml last installed
where=$venv/.rrdd-root  # the repo path the venv was made for: its scripts hard-code it

say() { printf 'setup: %s\n' "$*"; }

installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) == "install ok installed" ]]
}

missing=()
for p in "${packages[@]}"; do
    installed "$p" || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null || { say "not root and no sudo: install ${missing[*]}" >&2; exit 1; }
        sudo=(sudo)
    fi
    say "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    log=$(mktemp)
    if ! { "${sudo[@]}" apt-get update -q && "${sudo[@]}" apt-get install -y -q \
        --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
        cat -- "$log" >&2
        rm -f -- "$log"
        say "apt-get failed" >&2
        exit 1
    fi
    rm -f -- "$log"
else
    say "Debian packages present"
fi

want=$(sha256sum pyproject.toml | cut -d' ' -f1)

# A venv made by another python (pyenv on PATH, say), in another place, or whose
# interpreter has gone is rebuilt rather than patched.
if [[ -e $venv ]] && ! { grep -qx 'home = /usr/bin' "$venv/pyvenv.cfg" 2>/dev/null &&
    "$venv/bin/python" -c '' 2>/dev/null &&
    [[ $(cat -- "$where" 2>/dev/null) == "$root" ]]; }; then
    say "removing stale $venv"
    rm -rf -- "$venv"
fi
if [[ ! -e $venv ]]; then
    say "creating $venv with /usr/bin/python3"
    /usr/bin/python3 -m venv "$venv"
    printf '%s\n' "$root" >"$where"
fi

if [[ $(cat -- "$stamp" 2>/dev/null) == "$want" ]]; then
    say "rrdd installed in $venv"
else
    say "pip install -e '.[web,test]'"
    rm -f -- "$stamp"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/pip" install -q --use-pep517 -e '.[web,test]'
    printf '%s\n' "$want" >"$stamp"
fi
