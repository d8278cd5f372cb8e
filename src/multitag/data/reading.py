"""Helpers shared by the readers: transparent .gz/.bz2/.xz, text decoding, label matrices.

Compressed files are decompressed as a stream behind `multitag.data.limits`' guard (a bound on
the decompressed bytes and on the expansion ratio); text read whole must fit the memory budget.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
import scipy.sparse as sp

from multitag.data.limits import check_whole_text, guarded
from multitag.exceptions import DataFormatError

_MAGIC = {b"\x1f\x8b": "gz", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz"}
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz")
# Y stays a dense uint8 array unless it would take more than this many bytes.
DENSE_LABELS_MAX_BYTES = 64 * 1024 * 1024


def compression_of(path: Path) -> str | None:
    """'gz', 'bz2', 'xz' or None, from the file's first bytes (the name does not matter)."""
    with open(path, "rb") as handle:
        head = handle.read(6)
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    return None


def open_binary(path: Path, *, whole: bool = False) -> BinaryIO:
    """Open `path` for reading bytes, decompressing gzip, bzip2 or xz on the fly behind the
    decompression guard (`whole`: the text will be held in memory; see `read_bytes`)."""
    kind = compression_of(path)
    if kind is None:
        if whole:
            check_whole_text(Path(path).stat().st_size, path)
        return open(path, "rb")
    opener = {"gz": gzip.open, "bz2": bz2.open, "xz": lzma.open}[kind]
    return guarded(opener(path, "rb"), path, whole=whole)


@contextmanager
def decompression_errors(path: Path) -> Iterator[None]:
    """Turn a corrupt or truncated .gz/.bz2/.xz stream into a DataFormatError naming `path`."""
    try:
        yield
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as err:
        raise DataFormatError(f"cannot decompress: {err}", path=path) from err


def read_bytes(path: Path) -> bytes:
    """The whole (decompressed) content of `path`; a corrupt archive, or more text than the
    memory budget allows to read whole, is a DataFormatError."""
    with decompression_errors(path), open_binary(path, whole=True) as handle:
        return handle.read()


def read_text(path: Path) -> tuple[str, tuple[str, ...]]:
    """Decoded text of `path` (UTF-8, else Latin-1 with a notice) and the notices."""
    data = read_bytes(path)
    check_text(data, path)
    try:
        return data.decode("utf-8-sig"), ()
    except UnicodeDecodeError as err:
        notice = (
            f"{path.name}: not valid UTF-8 (byte {err.start}); read as Latin-1 instead",
        )
        return data.decode("latin-1"), notice


_TEXT_CHECK_BYTES = 1 << 20


def check_text(data: bytes, path: Path, *, more: bool = False) -> None:
    """Empty, UTF-16/32 or binary content (a NUL byte in its first MiB) is an error.

    `data` is the whole file, or its start with `more` telling whether anything follows."""
    if not more and not data.strip():
        raise DataFormatError("the file is empty; expected a header and data rows", path=path)
    _check_not_binary(data, path)


def check_text_start(path: Path) -> None:
    """`check_text` on the first MiB of `path`, for readers that stream the file."""
    with decompression_errors(path), open_binary(path) as handle:
        head = handle.read(_TEXT_CHECK_BYTES)
        more = bool(handle.read(1))
    check_text(head, path, more=more)


_WIDE_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32",
              b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16"}


def _check_not_binary(data: bytes, path: Path) -> None:
    """UTF-16/32 text or binary data (a NUL byte) is an error, not Latin-1 garbage."""
    for bom, encoding in _WIDE_BOMS.items():
        if data.startswith(bom):
            raise DataFormatError(
                f"the file is {encoding} text (byte-order mark); expected UTF-8: convert it, "
                f"e.g. iconv -f {encoding} -t UTF-8", path=path, line=1)
    nul = data.find(b"\x00", 0, _TEXT_CHECK_BYTES)
    if nul >= 0:
        raise DataFormatError(
            f"binary data (a NUL byte at offset {nul}); expected a text file", path=path)


def base_name(path: Path) -> str:
    """File name without compression suffix and format extension: 'a-train.arff.gz' -> 'a-train'."""
    name = path.name
    for suffix in COMPRESSED_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.rsplit(".", 1)[0] if "." in name else name


def format_extension(path: Path) -> str:
    """The format extension, ignoring a compression suffix: 'a.arff.bz2' -> 'arff'."""
    name = path.name.lower()
    for suffix in COMPRESSED_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.rsplit(".", 1)[1] if "." in name else ""


def label_matrix(Y: sp.csr_matrix) -> np.ndarray | sp.csr_matrix:
    """Labels as dense uint8 unless that would exceed DENSE_LABELS_MAX_BYTES; then CSR."""
    Y = sp.csr_matrix(Y, dtype=np.uint8)
    if Y.shape[0] * Y.shape[1] <= DENSE_LABELS_MAX_BYTES:
        return Y.toarray()
    return Y
