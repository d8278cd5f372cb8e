"""Latency and throughput of `multitag serve` on loopback with a model trained on yeast.

Trains a network on yeast-train (Mulan), starts `multitag serve` as a child process on a free
127.0.0.1 port, sends single-item requests built from yeast-test rows at a fixed concurrency over
keep-alive connections (a minimal asyncio HTTP/1.1 client, so that the load generator's own cost
stays small beside the server's), checks every answer against `ModelBundle.predict`, and prints
throughput, p50/p99 latency, the error count and whether the targets hold (zero errors; p99
latency < 50 ms).

    .venv/bin/python benchmarks/serve.py [--requests 2000] [--concurrency 16] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_DIR, free_port, machine_line, md_table, verdict, write_marked_section

YEAST = REPO_DIR.parent / "shared" / "data" / "mulan" / "yeast"
P99_TARGET_MS = 50.0
WARMUP = 50


@dataclass
class Outcome:
    """What the load generator measured."""

    seconds: float
    latencies_ms: list[float]
    errors: int
    wrong: int
    error_kinds: dict[str, int]

    def record_error(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1

    @property
    def throughput(self) -> float:
        return len(self.latencies_ms) / self.seconds

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")


def train_yeast(out: Path) -> tuple[object, np.ndarray, float]:
    """Train on yeast-train, save to `out`; the loaded bundle, test rows and training time."""
    from multitag.bundle.directory import ModelBundle
    from multitag.data import load
    from multitag.options import TrainOptions
    from multitag.pipeline.fit import train as train_model

    started = time.perf_counter()
    outcome = train_model(load(YEAST / "yeast-train.arff"), TrainOptions(seed=0))
    outcome.bundle.save(out)
    test = load(YEAST / "yeast-test.arff")
    return ModelBundle.load(out), np.asarray(test.X, dtype=np.float64), \
        time.perf_counter() - started


def start_server(model: Path, port: int, env: dict[str, str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "multitag", "serve", str(model), "--host", "127.0.0.1",
           "--port", str(port), "--quiet"]
    return subprocess.Popen(cmd, cwd=REPO_DIR, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def wait_ready(url: str, server: subprocess.Popen, timeout: float = 180.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited: {server.stderr.read() if server.stderr else ''}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"server at {url} not ready after {timeout:.0f} s")


class Connection:
    """A minimal HTTP/1.1 keep-alive client (asyncio streams), so the load generator's own
    cost stays small beside the server's; `post` returns (status, parsed JSON body)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, payload: object) -> tuple[int, object]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        body = json.dumps(payload).encode()
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                          f"Content-Type: application/json\r\nContent-Length: {len(body)}"
                          "\r\n\r\n".encode() + body)
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in head[1:] if ": " in line)
        data = await self.reader.readexactly(int(headers.get("content-length", 0)))
        if headers.get("connection") == "close":
            await self.close()
        try:
            return int(head[0].split()[1]), json.loads(data)
        except ValueError as err:
            raise ValueError(f"{head[0]!r} {head[1:]} {data[:200]!r}") from err

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


async def load_test(port: int, rows: np.ndarray, expected: list[list[str]], n_requests: int,
                    concurrency: int) -> Outcome:
    """`n_requests` single-item POSTs by `concurrency` workers; latencies of the good ones."""
    counter = iter(range(n_requests))
    outcome = Outcome(0.0, [], 0, 0, {})

    async def worker() -> None:
        connection = Connection("127.0.0.1", port)
        for i in counter:
            row = i % len(rows)
            start = time.perf_counter()
            try:
                status, answer = await connection.post("/predict",
                                                       {"features": rows[row].tolist()})
            except (OSError, asyncio.IncompleteReadError, ValueError) as err:
                outcome.record_error(type(err).__name__)
                if os.environ.get("SERVE_BENCH_DEBUG"):
                    print(f"error: {err}", file=sys.stderr)
                await connection.close()
                continue
            elapsed = (time.perf_counter() - start) * 1000
            if status != 200:
                outcome.record_error(f"HTTP {status}")
                continue
            outcome.latencies_ms.append(elapsed)
            outcome.wrong += answer["predictions"][0]["labels"] != expected[row]
        await connection.close()

    warm = Connection("127.0.0.1", port)
    for row in rows[:WARMUP]:
        await warm.post("/predict", {"features": row.tolist()})
    await warm.close()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    outcome.seconds = time.perf_counter() - started
    return outcome


def render(outcome: Outcome, args: argparse.Namespace, fit_seconds: float,
           load_at_start: str) -> str:
    p50, p99 = outcome.percentile(50), outcome.percentile(99)
    faults = outcome.errors + outcome.wrong
    table = md_table(
        ["requests", "concurrency", "throughput", "p50 latency", "p99 latency", "max latency",
         "errors", "wrong answers"],
        [[f"{args.requests:,}", args.concurrency, f"{outcome.throughput:,.0f} req/s",
          f"{p50:.1f} ms", f"{p99:.1f} ms", f"{max(outcome.latencies_ms, default=0):.1f} ms",
          outcome.errors, outcome.wrong]])
    targets = md_table(["target (issue 6)", "measured", "verdict"], [
        ["zero errors (and every answer equal to ModelBundle.predict)",
         f"{faults}" + (f" ({_kinds(outcome)})" if outcome.errors else ""),
         verdict(faults == 0)],
        [f"p99 latency < {P99_TARGET_MS:.0f} ms (single-item requests)", f"{p99:.1f} ms",
         verdict(p99 < P99_TARGET_MS)],
    ], align="llr")
    notes = [
        f"- Machine: {load_at_start}; load average "
        f"{'{:.2f}/{:.2f}/{:.2f}'.format(*os.getloadavg())} at the end.",
        f"- Model: yeast-train (1,500 rows, 103 features, 14 labels), default `TrainOptions` "
        f"(seed 0), trained in {fit_seconds:.1f} s; the server is `multitag serve` in its own "
        "process with its defaults (one uvicorn worker, prediction batched in its thread "
        "pool, one torch/OpenMP thread).",
        f"- Client: a minimal asyncio HTTP/1.1 client in this process, {args.concurrency} "
        f"concurrent keep-alive connections, one yeast-test row per request, after {WARMUP} "
        "untimed warm-up requests; latency = request sent to response parsed, measured by the "
        "client, which runs with OMP_NUM_THREADS=1 so that it takes little CPU from the server.",
    ]
    return "\n\n".join([
        "## HTTP service: `multitag serve` on loopback",
        "`benchmarks/serve.py`; rerun with `.venv/bin/python benchmarks/serve.py --markdown`.",
        table, targets, "\n".join(notes)])


def _kinds(outcome: Outcome) -> str:
    return ", ".join(f"{n} x {kind}" for kind, n in sorted(outcome.error_kinds.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--markdown", action="store_true",
                        help="Write the table into benchmarks/README.md.")
    args = parser.parse_args()
    load_at_start = machine_line()
    server_env = dict(os.environ)  # the server runs with `multitag serve`'s own defaults
    # This process's OpenMP pool (torch trains and checks answers here) must not take CPU
    # from the server: one thread, set before torch loads.
    os.environ["OMP_NUM_THREADS"] = "1"
    with tempfile.TemporaryDirectory(prefix="multitag-serve-") as tmp:
        model = Path(tmp) / "yeast-model"
        bundle, rows, fit_seconds = train_yeast(model)
        names = np.asarray(bundle.label_names, dtype=object)
        expected = [[str(n) for n in names[y.astype(bool)]] for y in bundle.predict(rows)]
        port = free_port()
        server = start_server(model, port, server_env)
        try:
            wait_ready(f"http://127.0.0.1:{port}", server)
            outcome = asyncio.run(load_test(port, rows, expected, args.requests,
                                            args.concurrency))
        finally:
            server.terminate()
            server.wait(timeout=30)
    text = render(outcome, args, fit_seconds, load_at_start)
    print(text)
    if args.markdown:
        print(f"\nwrote {write_marked_section('serve', text)}")


if __name__ == "__main__":
    main()
