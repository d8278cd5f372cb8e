"""Run independent training jobs in forked worker processes (one torch thread each).

Small networks are bound by per-operation overhead, so two single-threaded processes train two
networks in about the time of one; threads would serialise on the interpreter lock. Workers are
forked (they inherit the data and the job function, nothing is re-imported) and send back
their results through a pipe. While they run, `emit(event)` in a worker passes an event (an
epoch's record, say) to the parent's `on_event`, called from a thread of the parent, so
progress from every worker shows in one display. Workers ignore Ctrl-C: the parent decides
(a shared event asks them to stop at an epoch end; see `training.checkpoint`). Every worker is
waited for before an error is raised, so a stop request leaves every checkpoint written. Where
fork is unavailable the jobs run in this process.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import threading
import traceback
from collections.abc import Callable, Iterable
from typing import Any

_events: Any = None  # in a worker: the queue of events for the parent


def run_in_processes(job: Callable[[int], Any], items: Iterable[int], n_jobs: int,
                     on_event: Callable[[Any], None] | None = None) -> list[Any]:
    """`[job(i) for i in items]`, computed by up to `n_jobs` forked processes."""
    items = list(items)
    if "fork" not in multiprocessing.get_all_start_methods() or n_jobs <= 1:
        return [job(i) for i in items]
    context = multiprocessing.get_context("fork")
    events = context.SimpleQueue()
    listener = threading.Thread(target=_relay, args=(events, on_event), daemon=True)
    listener.start()
    workers = []
    for w in range(min(n_jobs, len(items))):
        mine = items[w::n_jobs]
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_worker, args=(job, mine, sender, events, os.getpid()),
                                  daemon=True)
        process.start()
        sender.close()
        workers.append((mine, receiver, process))
    try:
        return _collect(workers, items)
    finally:
        events.put(None)
        listener.join(timeout=5)


def emit(event: Any) -> None:
    """Send `event` to the parent's `on_event` (nothing outside a worker)."""
    if _events is not None:
        _events.put(event)


def in_worker() -> bool:
    return _events is not None


def _collect(workers: list[Any], items: list[int]) -> list[Any]:
    results: dict[int, Any] = {}
    errors: list[Any] = []
    for mine, receiver, process in workers:
        try:  # plain pickle of in-memory results between our own processes, never of files
            status, payload = pickle.loads(receiver.recv_bytes())
        except EOFError:
            status, payload = "error", f"worker process {process.pid} died"
        process.join()
        if status == "error":
            errors.append(payload)
        else:
            results.update(zip(mine, payload))
    if errors:
        first = next((e for e in errors if isinstance(e, Exception)
                      and type(e).__name__ != "TrainingInterrupted"), errors[0])
        if isinstance(first, Exception):
            raise first
        raise RuntimeError(f"a training worker failed: {first}")
    return [results[i] for i in items]


def _relay(events: Any, on_event: Callable[[Any], None] | None) -> None:
    while True:
        event = events.get()
        if event is None:
            return
        if on_event is not None:
            with contextlib.suppress(Exception):  # a display problem must not stop training
                on_event(event)


def _worker(job: Callable[[int], Any], mine: list[int], sender: Any, events: Any,
            parent: int) -> None:
    import torch

    global _events
    _events = events
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent asks workers to stop
    torch.set_num_threads(1)
    _one_blas_thread()
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


def _die_with(parent: int) -> None:
    """Linux: end this worker when its parent dies (kill -9 of `multitag train` must not leave
    workers writing checkpoints while a resumed run starts)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _one_blas_thread() -> None:
    """numpy's and scipy's BLAS in one thread too: workers share the cores already (OpenBLAS
    threads spinning against each other across processes made a linear fit 30x slower,
    measured). The environment covers libraries loaded later in the worker; threadpoolctl
    those loaded already."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover (a scikit-learn dependency)
        return
    threadpool_limits(1)
