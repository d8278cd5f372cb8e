"""Helpers shared by the benchmark scripts: timing a child process, summary statistics, Markdown
tables, and writing one script's marked section of benchmarks/README.md without touching the others.

Standard library + numpy only: the scripts run with the project's venv python.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
README = BENCH_DIR / "README.md"

README_INTRO = """# Benchmarks

Scripts that measure multitag on this machine and print a table; none of them is run by
`make test`. Each script records its latest table below, between its own
`<!-- NAME:begin -->` / `<!-- NAME:end -->` markers, when run with `--markdown`; rerunning a
script replaces only its own section. Absolute times drift by up to 2x from one machine or hour
to the next: compare numbers measured side by side in one run, and quote ratios.
"""


# --------------------------------------------------------------------------- child processes
@dataclass
class Timed:
    """One child process run: whole wall time measured from outside, and what it printed."""

    seconds: float
    returncode: int
    stdout: str
    stderr: str


def run_timed(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
) -> Timed:
    """Run `cmd` and time the whole process (start to exit) with time.perf_counter."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        list(cmd),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    seconds = time.perf_counter() - t0
    return Timed(seconds, proc.returncode, proc.stdout, proc.stderr)


def free_port() -> int:
    """A TCP port on 127.0.0.1 free at the moment of asking."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(text: str, lines: int = 15) -> str:
    """The last few lines of a child's output, for an error message."""
    return "\n".join(text.rstrip().splitlines()[-lines:])


# --------------------------------------------------------------------------- statistics
def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def fmt_median_range(values: Sequence[float], unit: str = " s", digits: int = 2) -> str:
    """`1.23 s (1.10–1.40)`: the median, then min–max."""
    if not values:
        return "n/a"
    med = median(values)
    return f"{med:.{digits}f}{unit} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def fmt_mean_std(values: Sequence[float], digits: int = 4) -> str:
    """`0.8637 ± 0.0012`: mean ± sample standard deviation (± 0 for a single value)."""
    if not values:
        return "n/a"
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def verdict(ok: bool) -> str:
    return "met" if ok else "**NOT met**"


# --------------------------------------------------------------------------- Markdown
def md_table(headers: Sequence[str], rows: Sequence[Sequence[object]],
             align: str | None = None) -> str:
    """A GitHub Markdown table, padded so it also reads well in a terminal.

    `align` is one letter per column, `l` or `r` (default: first column left, the rest right).
    """
    ncol = len(headers)
    align = align or ("l" + "r" * (ncol - 1))
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(3, *(len(r[i]) for r in cells)) for i in range(ncol)]

    def line(row: Sequence[str]) -> str:
        parts = [
            c.ljust(w) if a == "l" else c.rjust(w)
            for c, w, a in zip(row, widths, align, strict=True)
        ]
        return "| " + " | ".join(parts) + " |"

    rule = "|" + "|".join(
        ("-" * (w + 1) + ":") if a == "r" else ("-" * (w + 2))
        for w, a in zip(widths, align, strict=True)
    ) + "|"
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def write_marked_section(name: str, body: str, path: Path = README,
                         intro: str = README_INTRO) -> Path:
    """Put `body` between `<!-- name:begin -->` and `<!-- name:end -->` in `path`.

    The file is created with `intro` if missing; an existing section of that name is replaced,
    otherwise the section is appended; everything else in the file is kept byte for byte.
    Written to a temporary file and renamed into place.
    """
    begin, end = markers(name)
    section = f"{begin}\n{body.strip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else intro.rstrip() + "\n"
    i, j = text.find(begin), text.find(end)
    if i != -1 and j != -1 and j > i:
        text = text[:i] + section + text[j + len(end):]
    elif i != -1 or j != -1:
        raise ValueError(f"{path}: unbalanced markers for section {name!r}; fix them by hand")
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# --------------------------------------------------------------------------- machine
def machine_line() -> str:
    """One line on where and when a benchmark ran (cores, load, Python, OS, UTC time)."""
    try:
        load = "load average {:.2f}/{:.2f}/{:.2f}".format(*os.getloadavg())
    except OSError:
        load = "load average n/a"
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"{now}; {os.cpu_count()} cores; {load} at start; "
            f"Python {platform.python_version()}; {platform.system()} {platform.release()}")
