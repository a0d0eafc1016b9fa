"""Extra-script throughput: one process per message (xymond_rrd's way) against --extra-persistent.

    .venv/bin/python bench/extra_script.py [MESSAGES]

Both runs feed the same stream of weather messages (tests/data/extra/weather.py answers
in both modes) to the rrdd command with a fresh RRD directory, and the script prints
messages per second for each and the ratio. Ingest of other messages is not included.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests/data/extra/weather.py"
RRDD = str(Path(sys.executable).with_name("rrdd"))
T0 = 1795312871


def stream(messages: int, hosts: int = 20) -> bytes:
    out = []
    for i in range(messages):
        host, cycle = f"host{i % hosts}", i // hosts
        ts = T0 + 300 * cycle + i % hosts
        out.append(
            f"@@status#{i + 1}/{host}|{ts}.0|192.0.2.1||{host}|weather|0|green||green|0|0||0||"
            f"{ts}|c|p|0|\nstatus {host}.weather green Weather is FAIR\n\nTemperature: "
            f"{10 + cycle % 20} C\nWind: 4 m/s\nHumidity: 70 %\nRainfall: {cycle} mm\n@@\n"
        )
    return "".join(out).encode()


def run(data: bytes, *extra: str) -> float:
    with tempfile.TemporaryDirectory() as rrddir:
        argv = [RRDD, f"--rrddir={rrddir}", f"--extra-script={SCRIPT}", "--extra-tests=weather"]
        started = time.perf_counter()
        subprocess.run([*argv, *extra], input=data, check=True, capture_output=True)
        return time.perf_counter() - started


def main() -> None:
    messages = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    data = stream(messages)
    per_message = run(data)
    persistent = run(data, "--extra-persistent")
    print(f"extra script, {messages} messages")
    print(f"  per message (a process each): {messages / per_message:9.0f} msg/s")
    print(f"  persistent (one process):     {messages / persistent:9.0f} msg/s")
    print(f"  persistent / per message:     {per_message / persistent:9.1f}x")


if __name__ == "__main__":
    main()
