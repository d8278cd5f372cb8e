"""Resource limits, part of every reader's contract: one principle, in one place.

Whatever a file says (a feature index, a header's counts, a nominal's values, a compressed
stream, a JSON line), a reader refuses, before allocating, a result that would not fit:

- the memory budget: half of the memory available when the check runs (the least of
  /proc/meminfo's MemAvailable, the room left under the cgroup's memory limit and under the
  address-space limit `ulimit -v`; 4 GiB where none can be read). The environment variable
  `MULTITAG_MEMORY_LIMIT` (bytes, or with a unit: `512M`, `16G`) replaces it.
- the file's size: n bytes of input (a compressed file's decompressed size once read) may give
  arrays of at most max(256 MiB, 100 x n) bytes, and a .gz/.bz2/.xz file may decompress to at
  most max(32 MiB, 100 x its size). A Parquet file counts as its size on disk like any other
  (a 1 MB file of 200 million constant rows is a bomb, not data). `MULTITAG_MAX_EXPANSION`
  sets the ratio (100); 0 lifts the file-size bounds, leaving the memory budget.

Sizes count what the result takes: 8 bytes a float64 cell, 4+4 a CSR value, 64 bytes a column
name, 4 KiB a column of a pandas table. Text read whole must fit a quarter of the budget
(parsing holds a few copies of it); text read in chunks comes in chunks of at most
`CHUNK_BYTES` and lines whose parsing (about 20 x their bytes) takes at most a 16th of the
budget. A JSON line may nest
`MAX_JSON_DEPTH` levels; a JSON lines file may have `MAX_JSON_KEYS` distinct keys.
`reading_errors(path)`, around every reader (`load`, `ChunkedFile`), is the last line of
defence: MemoryError, RecursionError and OverflowError become a one-line `DataFormatError`.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from multitag.exceptions import ConfigError, DataFormatError

MEMORY_LIMIT_ENV = "MULTITAG_MEMORY_LIMIT"
MAX_EXPANSION_ENV = "MULTITAG_MAX_EXPANSION"
MAX_EXPANSION = 100
EXPANSION_FLOOR = 256 * 2**20  # arrays any file may give
DECOMPRESSION_FLOOR = 32 * 2**20  # text any compressed file may give
FALLBACK_BUDGET = 4 * 2**30
WHOLE_TEXT_SHARE = 4  # text read whole: at most budget / 4
LINE_SHARE = 16  # parsing one line of a file read in chunks: at most budget / 16
LINE_PARSE_COST = 20  # parsing a line holds about 20x its bytes (a 50 MB svmlight line: 1 GB)
CHUNK_BYTES = 32 * 2**20  # text of one chunk (a line also counts LINE_COST)
LINE_COST = 64  # a line held in a chunk costs this much beyond its bytes
NAME_BYTES = 64  # a column name and its slot in the list of names
TABLE_COLUMN_BYTES = 4096  # a column of a pandas table (its Series, block, name, encoding)
MAX_JSON_DEPTH = 32
MAX_JSON_KEYS = 100_000
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)
_seen: dict[tuple[str, int, int], int] = {}  # decompressed bytes read from a file so far


def size_text(n: float) -> str:
    """Bytes for people: '41 bytes', '3.0 GiB'."""
    if n < 1024:
        return f"{int(n)} bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}"
    return f"{n:.1f} TiB"


def parse_size(text: str, name: str = MEMORY_LIMIT_ENV) -> int:
    match = _SIZE.fullmatch(text)
    if match is None or float(match.group(1)) <= 0:
        raise ConfigError(f"`{name}` must be a positive size in bytes such as 8G or 512M; "
                          f"got {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


# --- how much memory there is ----------------------------------------------------------------

def available_memory() -> int | None:
    """Bytes this process may still allocate, by the tightest limit that can be read."""
    found = [v for v in (_meminfo(), _cgroup_room(), _address_room()) if v is not None]
    return min(found) if found else None


def _read_int(path: str, key: str | None = None) -> int | None:
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    if key is not None:
        match = re.search(rf"^{key}:\s*(\d+)\s*kB", text, re.MULTILINE)
        return int(match.group(1)) * 1024 if match else None
    text = text.strip()
    return int(text) if text.isdigit() else None


def _meminfo() -> int | None:
    found = _read_int("/proc/meminfo", "MemAvailable")
    if found is not None:
        return found
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_room() -> int | None:
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                          "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        cap, used = _read_int(limit), _read_int(usage)
        if cap is not None and used is not None and cap < 2**60:
            return max(cap - used, 0)
    return None


def _address_room() -> int | None:
    try:
        import resource
    except ImportError:
        return None
    soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    if soft == resource.RLIM_INFINITY:
        return None
    used = _read_int("/proc/self/status", "VmSize") or 0
    return max(soft - used, 0)


def memory_budget() -> int:
    """Bytes one reader's result may take: `MULTITAG_MEMORY_LIMIT`, else half the memory
    available now (4 GiB where that cannot be read)."""
    given = os.environ.get(MEMORY_LIMIT_ENV, "").strip()
    if given:
        return parse_size(given)
    available = available_memory()
    return available // 2 if available is not None else FALLBACK_BUDGET


def max_expansion() -> int:
    """The ratio of `MULTITAG_MAX_EXPANSION` (default 100; 0: no file-size bound)."""
    given = os.environ.get(MAX_EXPANSION_ENV, "").strip()
    if not given:
        return MAX_EXPANSION
    if not given.isdigit():
        raise ConfigError(f"`{MAX_EXPANSION_ENV}` must be a whole number (0: no bound); "
                          f"got {given!r}")
    return int(given)


def _budget_text() -> str:
    if os.environ.get(MEMORY_LIMIT_ENV, "").strip():
        return f"the memory limit {MEMORY_LIMIT_ENV}={os.environ[MEMORY_LIMIT_ENV].strip()}"
    return (f"the memory budget of {size_text(memory_budget())} (half the memory available; "
            f"set {MEMORY_LIMIT_ENV}, e.g. 16G, to change it)")


# --- how large a file is -----------------------------------------------------------------------

def _key(path: Path) -> tuple[str, int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns


def source_size(path: Path) -> int:
    """The size of `path` as a reader sees it: on disk, or decompressed as far as read."""
    key = _key(path)
    if key is None:
        return 0
    return max(key[1], _seen.get(key, 0))


def result_allowance(path: Path | None, source_bytes: int | None = None) -> tuple[int, str]:
    """(bytes, why) that arrays read from `path` may take; `source_bytes`: the input's size
    when it is not `source_size(path)`."""
    budget = memory_budget()
    ratio = max_expansion()
    if path is None or ratio == 0:
        return budget, _budget_text()
    n = source_size(path) if source_bytes is None else source_bytes
    by_size = max(EXPANSION_FLOOR, ratio * n)
    if by_size >= budget:
        return budget, _budget_text()
    return by_size, (f"what {size_text(n)} of input may give ({ratio} x its size, at least "
                     f"{size_text(EXPANSION_FLOOR)}; set {MAX_EXPANSION_ENV} to raise the "
                     "ratio, 0 to lift it)")


def over_allowance(nbytes: int, what: str, path: Path | None,
                   source_bytes: int | None = None) -> str | None:
    """The problem, if `what` taking `nbytes` is more than the input's size allows or more
    than the memory budget (see the module's docstring); else None."""
    allowed, why = result_allowance(path, source_bytes)
    if nbytes > allowed:
        return f"{what} would take {size_text(nbytes)}, more than {why}"
    return None


def check_fits(nbytes: int, what: str, path: Path | None, line: int | None = None, *,
               source_bytes: int | None = None) -> None:
    """Refuse, before allocating, `what` taking `nbytes` (see `over_allowance`)."""
    problem = over_allowance(nbytes, what, path, source_bytes)
    if problem is not None:
        raise DataFormatError(problem, path=path, line=line)


def text_room(path: Path, compressed: bool) -> int | None:
    """The most text `path` can hold: its size, or for a compressed file what the guard lets
    it decompress to (None: no bound)."""
    size = source_size(path)
    if not compressed:
        return size
    return decompression_limit(size)


def decompression_limit(compressed: int) -> int | None:
    """The most a file of `compressed` bytes may decompress to (None: no bound)."""
    ratio = max_expansion()
    return max(DECOMPRESSION_FLOOR, ratio * compressed) if ratio else None


def dense_bytes(rows: int, columns: int, itemsize: int = 8) -> int:
    return int(rows) * int(columns) * itemsize


def csr_bytes(rows: int, nnz: int, itemsize: int = 4) -> int:
    return int(nnz) * (itemsize + 4) + (int(rows) + 1) * 8


def names_bytes(n: int) -> int:
    return int(n) * NAME_BYTES


def table_bytes(rows: int, columns: int, cell: int = 8) -> int:
    """A pandas table: its cells and what each column costs besides."""
    return int(rows) * int(columns) * cell + int(columns) * TABLE_COLUMN_BYTES


# --- text ----------------------------------------------------------------------------------------

def check_whole_text(nbytes: int, path: Path) -> None:
    """Text read whole (and parsed in memory) must fit a quarter of the memory budget."""
    if nbytes > whole_text_limit():
        raise DataFormatError(
            f"the file has {size_text(nbytes)} of text (or more); reading it whole holds "
            f"about {WHOLE_TEXT_SHARE} times that, more than {_budget_text()}; read it in "
            "chunks (predict, train --stream) or give more memory", path=path)


def whole_text_limit() -> int:
    return memory_budget() // WHOLE_TEXT_SHARE


def line_limit() -> int:
    """The longest line a chunked reader takes: one whose parsing holds at most a 16th of the
    budget (at least 1 MiB; 36 MB with 11 GB of budget)."""
    return max(memory_budget() // (LINE_SHARE * LINE_PARSE_COST), 2**20)


def read_line(handle: BinaryIO, path: Path, line: int, limit: int | None = None) -> bytes:
    """One line of `handle`; a line longer than `limit` (`line_limit()`) is an error."""
    limit = limit or line_limit()
    raw = handle.readline(limit + 1)
    if len(raw) > limit and not raw.endswith(b"\n"):
        raise long_line_error(limit, path, line)
    return raw


def long_line_error(limit: int, path: Path, line: int) -> DataFormatError:
    return DataFormatError(
        f"the line is longer than {size_text(limit)}; expected the lines of a data file "
        f"(parsing a line holds about {LINE_PARSE_COST} times its bytes, at most a "
        f"{LINE_SHARE}th of {_budget_text()})", path=path, line=line)


def lines_of(handle: BinaryIO, path: Path, first_line: int = 1) -> Iterator[bytes]:
    """The lines of `handle`, each at most `line_limit()` long."""
    limit = line_limit()
    number = first_line
    while True:
        raw = read_line(handle, path, number, limit)
        if not raw:
            return
        yield raw
        number += 1


# --- decompression -------------------------------------------------------------------------------

class DecompressionGuard(io.RawIOBase):
    """A decompressing stream that stops with a `DataFormatError` past `limit` bytes of output
    (and past `whole`, the text a whole-file read may hold, when given)."""

    def __init__(self, inner: Any, path: Path, whole: int | None = None) -> None:
        super().__init__()
        self.inner, self.path = inner, path
        self.count = 0
        self.key = _key(path)
        compressed = self.key[1] if self.key else 0
        self.limit = decompression_limit(compressed)
        self.whole = whole
        self.compressed = compressed

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return bool(self.inner.seekable())

    def readinto(self, buffer: Any) -> int:
        n = self.inner.readinto(buffer)
        self._advance(self.count + (n or 0))
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        position = self.inner.seek(offset, whence)
        self._advance(max(self.count, position))
        return position

    def tell(self) -> int:
        return int(self.inner.tell())

    def close(self) -> None:
        if not self.closed:
            self.inner.close()
        super().close()

    def _advance(self, count: int) -> None:
        self.count = count
        if self.key is not None and count > _seen.get(self.key, 0):
            _seen[self.key] = count
        if self.limit is not None and count > self.limit:
            raise DataFormatError(
                f"decompresses to more than {size_text(self.limit)}, over "
                f"{max_expansion()} times its {size_text(self.compressed)} (a decompression "
                f"bomb?); expected at most the larger of {size_text(DECOMPRESSION_FLOOR)} and "
                f"{max_expansion()} x the compressed size: set {MAX_EXPANSION_ENV} to raise "
                "the ratio, 0 to lift it", path=self.path)
        if self.whole is not None and count > self.whole:
            check_whole_text(count, self.path)


def guarded(inner: Any, path: Path, whole: bool = False) -> BinaryIO:
    """`inner` (a gzip/bz2/lzma file) behind a `DecompressionGuard`, buffered."""
    guard = DecompressionGuard(inner, path, whole_text_limit() if whole else None)
    return io.BufferedReader(guard, buffer_size=2**20)  # type: ignore[return-value]


# --- the last line of defence ------------------------------------------------------------------

@contextmanager
def reading_errors(path: Path) -> Iterator[None]:
    """MemoryError, RecursionError and OverflowError while reading `path` become one line."""
    try:
        yield
    except MemoryError as err:
        raise DataFormatError(
            f"not enough memory to read the file ({_first_line(err)}); expected a file whose "
            f"data fits {_budget_text()}", path=path) from err
    except RecursionError as err:
        raise DataFormatError(
            f"nested too deeply to read ({_first_line(err)}); expected flat rows", path=path
        ) from err
    except OverflowError as err:
        raise DataFormatError(
            f"a number too large to read ({_first_line(err)}); expected values that fit 64 bits",
            path=path) from err


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0][:200] if text else "") or type(err).__name__
