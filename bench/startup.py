"""Start-up benchmark: how long ``flask --help`` and ``flask runs`` take, against ``python -c pass``
and a bare Flask app with the same extensions (bench/startup_bare.py).

    .venv/bin/python bench/startup.py [--repeat 10] [--bar 0.8]

Each command runs --repeat times, interleaved with the others, in a fresh process with the
instance folder in a temporary directory (``flask runs`` on an initialised, empty database). The
package and the bare app are byte-compiled first, as ``pip install`` leaves an installed package
(an editable checkout run with PYTHONDONTWRITEBYTECODE=1 would otherwise compile every module at
every start). The medians are printed side by side with their ratio to the bare app; the exit
status is 1 when a cryptocrunch command's median is over --bar seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLASK = [sys.executable, "-m", "flask"]


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--bar", type=float, default=0.8, help="seconds a cryptocrunch command may take")
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", "cryptocrunch", "bench"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as instance:
        env = {**os.environ, "CRYPTOCRUNCH_INSTANCE_PATH": instance, "FLASK_APP": "cryptocrunch"}
        env = {
            k: v for k, v in env.items() if not k.startswith("CRYPTOCRUNCH_") or k.endswith("INSTANCE_PATH")
        }
        subprocess.run([*FLASK, "init-db"], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        bare = {**env, "FLASK_APP": "bench.startup_bare"}
        contenders = {
            "python -c pass": ([sys.executable, "-c", "pass"], env),
            "bare app: flask --help": ([*FLASK, "--help"], bare),
            "cryptocrunch: flask --help": ([*FLASK, "--help"], env),
            "cryptocrunch: flask runs": ([*FLASK, "runs"], env),
        }
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(args.repeat):
            for name, (command, command_env) in contenders.items():
                times[name].append(timed(command, command_env))
    medians = {name: statistics.median(values) for name, values in times.items()}
    baseline = medians["bare app: flask --help"]
    print(f"{'command':<30} {'median s':>9} {'min s':>7} {'x bare':>7}   ({args.repeat} runs each)")
    for name, values in times.items():
        print(f"{name:<30} {medians[name]:>9.3f} {min(values):>7.3f} {medians[name] / baseline:>7.2f}")
    slow = [name for name in medians if name.startswith("cryptocrunch") and medians[name] > args.bar]
    for name in slow:
        print(f"FAIL {name}: median {medians[name]:.3f} s is over the {args.bar} s bar")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
