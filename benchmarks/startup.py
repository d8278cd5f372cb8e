"""Start-up where users feel it: `multitag predict` of a small file as a whole process, and
`multitag serve`'s resident memory and time to its first answer, against a baseline commit.

The baseline is another commit of this repository (default: the last one before inference
moved to numpy), checked out into a temporary git worktree and run with the same Python and
packages (PYTHONPATH points at its sources). Each side trains its own model on
emotions-train with its defaults (`multitag train`), then, alternating rounds:
- predict: `multitag predict MODEL emotions-test.arff -o out.csv`, wall time of the process;
- serve: `multitag serve MODEL` started, polled until /health answers, then one POST /predict;
  time from the start of the process to that answer, and the server's resident memory (VmRSS)
  after it.

    .venv/bin/python benchmarks/startup.py [--baseline COMMIT] [--rounds 5] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _baseline import BASELINE, checkout, environment
from _common import (
    REPO_DIR,
    free_port,
    machine_line,
    md_table,
    median,
    run_timed,
    verdict,
    write_marked_section,
)

EMOTIONS = REPO_DIR.parent / "shared" / "data" / "mulan" / "emotions"
PREDICT_TARGET_S = 1.0
SPEEDUP_TARGET = 3.0


def run_cli(src: Path, *args: str, timeout: float = 600) -> tuple[float, str]:
    done = run_timed([sys.executable, "-m", "multitag", *args], env=environment(src),
                     timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"multitag {' '.join(args)} failed ({src}): {done.stderr[-500:]}")
    return done.seconds, done.stdout


def serve_once(src: Path, model: Path, row: list[float]) -> tuple[float, float]:
    """Seconds from process start to the first /predict answer, and VmRSS (MB) after it."""
    port = free_port()
    env = environment(src)
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "multitag", "serve", str(model),
                               "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        body = json.dumps({"features": row}).encode()
        while True:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/predict", data=body,
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=5) as answer:
                    answer.read()
                break
            except OSError:
                if server.poll() is not None or time.perf_counter() - started > 120:
                    raise SystemExit(f"serve did not answer ({src})") from None
                time.sleep(0.01)
        seconds = time.perf_counter() - started
        status = Path(f"/proc/{server.pid}/status").read_text()
        rss = next(int(line.split()[1]) for line in status.splitlines()
                   if line.startswith("VmRSS")) / 1024
        return seconds, rss
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default=BASELINE)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    machine = machine_line()
    with tempfile.TemporaryDirectory() as tmp, checkout(args.baseline) as baseline_src:
        sides = {"baseline": baseline_src, "now": REPO_DIR / "src"}
        results = measure(sides, Path(tmp), args.rounds)
    report(results, args, machine)


def measure(sides: dict[str, Path], tmp: Path, rounds: int) -> dict[str, dict[str, list]]:
    train, test = EMOTIONS / "emotions-train.arff", EMOTIONS / "emotions-test.arff"
    models = {}
    for side, src in sides.items():
        models[side] = tmp / f"model-{side}"
        run_cli(src, "train", str(train), "--out", str(models[side]), "--quiet")
        print(f"trained the {side} model", flush=True)
    row = [float(v) for v in test.read_text().split("@data")[1].split()[0].split(",")[:72]]
    results = {side: {"predict": [], "serve": [], "rss": []} for side in sides}
    for round_ in range(rounds + 1):  # the first round warms the file cache, not timed
        for side in (list(sides) if round_ % 2 else list(reversed(sides))):
            seconds, _ = run_cli(sides[side], "predict", str(models[side]), str(test),
                                 "-o", str(tmp / f"p-{side}.csv"), "--quiet")
            first, rss = serve_once(sides[side], models[side], row)
            if round_:
                results[side]["predict"].append(seconds)
                results[side]["serve"].append(first)
                results[side]["rss"].append(rss)
        print(f"round {round_}: " + ", ".join(
            f"{s} predict {results[s]['predict'][-1]:.2f} s" for s in sides if round_),
              flush=True)
    return results


def report(results: dict, args: argparse.Namespace, machine: str) -> None:
    base, now = results["baseline"], results["now"]
    rows = []
    for key, label, unit in (("predict", "`multitag predict` emotions-test (202 rows), whole "
                                         "process", "s"),
                             ("serve", "`multitag serve`: start to first answer", "s"),
                             ("rss", "`multitag serve`: resident memory after it", "MB")):
        b, n = median(base[key]), median(now[key])
        rows.append([label, f"{b:.2f} {unit}", f"{n:.2f} {unit}", f"{b / n:.1f}x"])
    speedup = median(base["predict"]) / median(now["predict"])
    checks = [
        ["predict whole process <= 1.0 s", f"{median(now['predict']):.2f} s",
         verdict(median(now["predict"]) <= PREDICT_TARGET_S)],
        [f"predict >= {SPEEDUP_TARGET:g}x faster than the baseline's torch path",
         f"{speedup:.1f}x", verdict(speedup >= SPEEDUP_TARGET)],
        ["serve: resident memory below the baseline's",
         f"{median(now['rss']):.0f} vs {median(base['rss']):.0f} MB",
         verdict(median(now["rss"]) < median(base["rss"]))],
        ["serve: time to first answer below the baseline's",
         f"{median(now['serve']):.2f} vs {median(base['serve']):.2f} s",
         verdict(median(now["serve"]) < median(base["serve"]))],
    ]
    body = "\n".join([
        "## Start-up: predict and serve without torch (`benchmarks/startup.py`)", "",
        f"Rerun with `.venv/bin/python benchmarks/startup.py --rounds {args.rounds} "
        "--markdown`: it checks out the baseline commit "
        f"`{args.baseline}` (torch inference) into a temporary git worktree and runs both "
        "sides with the same Python and packages, alternating, medians of "
        f"{args.rounds} rounds after one untimed round.", "",
        md_table(["what", f"baseline {args.baseline}", "now", "baseline / now"], rows), "",
        md_table(["target (issue 17)", "measured", "verdict"], checks), "",
        f"- Machine: {machine}.",
    ])
    print(body)
    if args.markdown:
        write_marked_section("startup", body)


if __name__ == "__main__":
    main()
