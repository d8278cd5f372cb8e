"""Run independent training jobs in forked worker processes (one torch thread each).

Small networks are bound by per-operation overhead, so two single-threaded processes train two
networks in about the time of one; threads would serialise on the interpreter lock. Workers are
forked (they inherit the data and the job function, nothing is re-imported) and send back
their results through a pipe. Where fork is unavailable the jobs run in this process.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import traceback
from collections.abc import Callable, Iterable
from typing import Any


def run_in_processes(job: Callable[[int], Any], items: Iterable[int], n_jobs: int) -> list[Any]:
    """`[job(i) for i in items]`, computed by up to `n_jobs` forked processes."""
    items = list(items)
    if "fork" not in multiprocessing.get_all_start_methods() or n_jobs <= 1:
        return [job(i) for i in items]
    context = multiprocessing.get_context("fork")
    workers = []
    for w in range(min(n_jobs, len(items))):
        mine = items[w::n_jobs]
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_worker, args=(job, mine, sender), daemon=True)
        process.start()
        sender.close()
        workers.append((mine, receiver, process))
    results: dict[int, Any] = {}
    for mine, receiver, process in workers:
        try:  # plain pickle of in-memory results between our own processes, never of files
            status, payload = pickle.loads(receiver.recv_bytes())
        except EOFError:
            status, payload = "error", f"worker process {process.pid} died"
        process.join()
        if status == "error":
            if isinstance(payload, Exception):
                raise payload
            raise RuntimeError(f"a training worker failed: {payload}")
        results.update(zip(mine, payload))
    return [results[i] for i in items]


def _worker(job: Callable[[int], Any], mine: list[int], sender: Any) -> None:
    import torch

    torch.set_num_threads(1)
    try:  # by value (plain pickle): torch's shared-memory handles die with this process
        sender.send_bytes(pickle.dumps(("ok", [job(i) for i in mine])))
    except BaseException as err:  # report any failure to the parent, never hang it
        try:
            sender.send_bytes(pickle.dumps(("error", err)))
        except Exception:  # an exception that cannot be pickled: send its text
            text = "".join(traceback.format_exception_only(err)).strip()
            sender.send_bytes(pickle.dumps(("error", text)))
    finally:
        sender.close()
        os._exit(0)
