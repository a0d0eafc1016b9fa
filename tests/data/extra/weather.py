#!/usr/bin/env python3
"""The weather example in both rrdd extra-script modes.

Per message: weather.py HOST TEST FILE. Persistent (RRDD_EXTRA_PERSISTENT set): requests
"HOST TEST LENGTH" + the message on stdin, each answered and ended with a "." line.
"""

import os
import sys

KEYS = ("Temperature", "Wind", "Humidity", "Rainfall")


def answer(test: str, message: str) -> str:
    if test != "weather":
        return ""
    found = {}
    for line in message.splitlines():
        key, _, rest = line.partition(":")
        if key in KEYS and rest.split():
            found[key] = rest.split()[0]
    return (
        "DS:temperature:GAUGE:600:-30:50\nDS:wind:GAUGE:600:0:U\n"
        "DS:humidity:GAUGE:600:0:100\nDS:rainfall:DERIVE:600:0:100\n"
        "weather.rrd\n" + ":".join(found.get(k, "U") for k in KEYS) + "\n"
    )


if os.environ.get("RRDD_EXTRA_PERSISTENT"):
    stdin = sys.stdin.buffer
    while header := stdin.readline():
        host, test, length = header.split()
        message = stdin.read(int(length)).decode()
        stdin.read(1)
        sys.stdout.write(answer(test.decode(), message) + ".\n")
        sys.stdout.flush()
else:
    with open(sys.argv[3]) as f:
        sys.stdout.write(answer(sys.argv[2], f.read()))
