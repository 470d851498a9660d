"""Commands on a busy machine: ``score`` against plain Pillow decoding, ``reproduce --quick``.

Two measurements from issue 14, each side by side in one run, quiet and then with one
CPU-heavy process running beside the command (a Python busy loop this script starts):

* ``score``: ``checkerscope score DIR --workers 1`` on N small PNGs (256x256 RGB) against a
  Python process that only opens, decodes and converts them to arrays with Pillow. Both are
  whole processes, start-up included. Medians of ROUNDS rounds, the two commands alternating.
* ``reproduce``: ``checkerscope reproduce --quick`` (or ``--only``) quiet, then loaded.

The loaded phase uses a second core, so run it holding both of the machine's CPU slots::

    /work/heavy /work/heavy .venv/bin/python benchmarks/bench_under_load.py score
    /work/heavy /work/heavy .venv/bin/python benchmarks/bench_under_load.py reproduce

The commands run with the environment as given (``/work/heavy`` sets OMP_NUM_THREADS=1);
``--default-threads`` removes OMP_NUM_THREADS so that they use their own defaults.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DECODE = """
import os, sys
import numpy as np
from PIL import Image
folder = sys.argv[1]
for name in sorted(os.listdir(folder)):
    with Image.open(os.path.join(folder, name)) as image:
        image.load()
        pixels = np.asarray(image)
"""


def make_pngs(folder: Path, count: int, size: int = 256) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    smooth = np.cumsum(np.cumsum(rng.normal(size=(size, size, 3)), axis=0), axis=1)
    for index in range(count):
        image = smooth + 30 * rng.normal(size=smooth.shape)
        image = 255 * (image - image.min()) / np.ptp(image)
        Image.fromarray(image.astype(np.uint8)).save(folder / f"sample_{index:05d}.png")


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


class Busy:
    """A CPU-heavy process beside the measured command (a pure Python busy loop)."""

    def __enter__(self) -> Busy:
        self.process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.kill()
        self.process.wait()


def load_text() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def bench_score(args: argparse.Namespace, env: dict[str, str]) -> None:
    checkerscope = str(Path(sys.executable).with_name("checkerscope"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "pngs"
        folder.mkdir()
        make_pngs(folder, args.files)
        decode = [sys.executable, "-c", DECODE, str(folder)]
        score = [checkerscope, "score", str(folder), "--workers", "1", "--json"]
        results: dict[str, dict[str, list[float]]] = {}
        for phase in ("quiet", "loaded"):
            print(f"{phase}: {load_text()}", flush=True)
            times: dict[str, list[float]] = {"decode": [], "score": []}
            for round_index in range(args.rounds):
                order = ("decode", "score") if round_index % 2 == 0 else ("score", "decode")
                for name in order:
                    command = decode if name == "decode" else score
                    if phase == "loaded":
                        with Busy():
                            times[name].append(timed(command, env))
                    else:
                        times[name].append(timed(command, env))
                print(
                    f"  round {round_index + 1}: decode {times['decode'][-1]:.2f} s, "
                    f"score {times['score'][-1]:.2f} s",
                    flush=True,
                )
            results[phase] = times
    print(f"\n{args.files} PNGs 256x256 RGB, medians of {args.rounds} rounds (whole processes)")
    print("| machine | Pillow decode | `checkerscope score --workers 1` | score / decode |")
    print("|---|---:|---:|---:|")
    for phase, times in results.items():
        decode_s = statistics.median(times["decode"])
        score_s = statistics.median(times["score"])
        print(f"| {phase} | {decode_s:.2f} s | {score_s:.2f} s | {score_s / decode_s:.2f}x |")
    quiet = statistics.median(results["quiet"]["score"])
    loaded = statistics.median(results["loaded"]["score"])
    print(f"score loaded / quiet: {loaded / quiet:.2f}x")


def bench_reproduce(args: argparse.Namespace, env: dict[str, str]) -> None:
    checkerscope = str(Path(sys.executable).with_name("checkerscope"))
    times: dict[str, list[float]] = {"quiet": [], "loaded": []}
    for _ in range(args.rounds):
        for phase in ("quiet", "loaded"):
            out = Path(tempfile.mkdtemp())
            command = [checkerscope, "reproduce", "--quick", "--out", str(out)]
            if args.only:
                command += ["--only", args.only]
            print(f"{phase}: {load_text()}", flush=True)
            if phase == "loaded":
                with Busy():
                    times[phase].append(timed(command, env))
            else:
                times[phase].append(timed(command, env))
            print(f"  {' '.join(command[1:])}: {times[phase][-1]:.1f} s", flush=True)
            shutil.rmtree(out, ignore_errors=True)
    quiet, loaded = statistics.median(times["quiet"]), statistics.median(times["loaded"])
    what = f"--only {args.only}" if args.only else "all claims"
    print(
        f"\nreproduce --quick ({what}): quiet {quiet:.1f} s, loaded {loaded:.1f} s, "
        f"loaded / quiet {loaded / quiet:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("score", "reproduce"))
    parser.add_argument("--files", type=int, default=2000, help="PNGs for score (2000)")
    parser.add_argument("--rounds", type=int, help="rounds (default: score 3, reproduce 1)")
    parser.add_argument("--only", help="claims for reproduce (default all)")
    parser.add_argument(
        "--default-threads", action="store_true", help="run the commands without OMP_NUM_THREADS"
    )
    args = parser.parse_args()
    if args.rounds is None:
        args.rounds = 3 if args.what == "score" else 1
    env = dict(os.environ)
    if args.default_threads:
        env.pop("OMP_NUM_THREADS", None)
        env.pop("MKL_NUM_THREADS", None)
    print(f"threads: OMP_NUM_THREADS={env.get('OMP_NUM_THREADS', 'unset')}, {load_text()}")
    if args.what == "score":
        bench_score(args, env)
    else:
        bench_reproduce(args, env)


if __name__ == "__main__":
    main()
