"""Hostile input (issue 18): tiny files that claim huge sizes, compression bombs, deep or
ragged JSON, Parquet bombs, piles of blank lines and very long lines. Each must end in one
line naming the file and exit code 2, quickly, before anything large is allocated, by the
limits of `multitag.data.limits` (bounds from the file's size and the machine's memory).
Files are generated small here; a limit is lowered through its override where that keeps a
test small."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import multitag.data.chunking as chunking
import multitag.data.limits as limits
import multitag.data.svmlight.bulk as bulk
from multitag.cli import main
from multitag.data import load
from multitag.data.chunks import ChunkedFile
from multitag.exceptions import ConfigError, DataFormatError

FAST = 5.0  # seconds: every refusal here is far quicker; the contract is 10 s


@pytest.fixture(autouse=True)
def _default_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from the default ratio and a memory budget of 64 GiB, whatever the
    environment and the machine's free memory: the file-size bounds decide, as they do on
    any machine with more than half a GiB free."""
    monkeypatch.setenv(limits.MEMORY_LIMIT_ENV, "64G")
    monkeypatch.delenv(limits.MAX_EXPANSION_ENV, raising=False)


def refused(path: Path, match: str, **options: object) -> DataFormatError:
    """`load(path)` fails fast with a DataFormatError naming the file and saying `match`."""
    start = time.perf_counter()
    with pytest.raises(DataFormatError, match=match) as info:
        load(path, **options)
    assert time.perf_counter() - start < FAST
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)
    return info.value


def refused_in_chunks(path: Path, match: str, **kwargs: object) -> None:
    start = time.perf_counter()
    with pytest.raises(DataFormatError, match=match) as info:
        for _ in ChunkedFile(path, **kwargs):
            pass
    assert time.perf_counter() - start < FAST
    assert str(path) in str(info.value)


def cli_refuses(capsys: pytest.CaptureFixture[str], path: Path, *extra: str) -> str:
    """`multitag data info PATH`: exit code 2 and one line on stderr naming the file."""
    with pytest.raises(SystemExit) as done:
        main(["data", "info", str(path), *extra])
    err = capsys.readouterr().err
    assert done.value.code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"multitag: error: {path}"), err
    return lines[0]


# --- declared or implied sizes ---------------------------------------------------------------

def test_svmlight_huge_index_in_a_tiny_file(tmp_path: Path, capsys) -> None:
    path = tmp_path / "wide.svm"
    path.write_bytes(b"1 49999999:1\n".ljust(40, b" ") + b"\n")  # 41 bytes (issue 18)
    error = refused(path, r"feature index 49,999,999 implies .* feature columns")
    assert error.line == 1
    assert "MULTITAG_MAX_EXPANSION" in str(error)
    assert "feature columns" in cli_refuses(capsys, path)
    refused_in_chunks(path, "feature columns")


def test_a_large_sparse_index_is_fine_when_it_fits(tmp_path: Path) -> None:
    """Not the index itself: the memory the result takes. 300,000 columns stay sparse."""
    path = tmp_path / "sparse.svm"
    path.write_bytes(b"1 3:1 300000:2\n2 7:1\n")
    data = load(path)
    assert sp.issparse(data.X) and data.X.shape == (2, 300_000) and data.X.nnz == 3


def test_a_lifted_ratio_lets_a_wide_sparse_file_through(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "wide.svm"
    path.write_bytes(b"1 1:1 5000000:1\n")  # 5 million names: over 256 MiB
    refused(path, "feature columns")
    monkeypatch.setenv(limits.MAX_EXPANSION_ENV, "0")
    monkeypatch.setenv(limits.MEMORY_LIMIT_ENV, "1G")
    assert load(path).X.shape == (1, 5_000_000)


@pytest.mark.parametrize("header, match", [
    (b"1 10 50000000", r"50,000,000 labels \(their names\)"),
    (b"1 50000000 10", r"50,000,000 features and 10 labels"),
    (b"50000000 10 10", r"the header says 50,000,000 rows, more than a file of"),
])
def test_xc_header_declaring_millions(tmp_path: Path, capsys, header: bytes,
                                      match: str) -> None:
    path = tmp_path / "big.xc"
    path.write_bytes(header + b"\n1 0:1\n")
    assert refused(path, match).line == 1
    cli_refuses(capsys, path)
    refused_in_chunks(path, match)


@pytest.mark.parametrize("digits", [30, 5000])
def test_sparse_arff_index_of_many_digits(tmp_path: Path, capsys, digits: int) -> None:
    path = tmp_path / "index.arff"
    path.write_text("@relation 'r: -C 1'\n@attribute l {0,1}\n@attribute a numeric\n@data\n"
                    f"{{0 1, {'1' * digits} 1}}\n")
    assert refused(path, r"index 1{20}\.\.\. \(.* digits\) out of range; expected 0 to 1"
                   ).line == 5
    cli_refuses(capsys, path)
    refused_in_chunks(path, "out of range")


def _nominal_arff(path: Path, values: int, rows: int) -> Path:
    """One label, one nominal attribute of `values` values, `rows` rows (a few used)."""
    declared = ",".join(f"v{i}" for i in range(values))
    body = "\n".join(f"{i % 2},v{i % 5}" for i in range(rows))
    path.write_text(f"@relation 'r: -C 1'\n@attribute l {{0,1}}\n@attribute a {{{declared}}}\n"
                    f"@data\n{body}\n")
    return path


def test_one_hot_width_times_rows_is_bounded(tmp_path: Path, capsys) -> None:
    """20,000 values x 2,000 rows: 305 MiB of float64 from a file of 150 KB."""
    path = _nominal_arff(tmp_path / "nominal.arff", 20_000, 2_000)
    error = refused(path, r"feature matrix of 2,000 rows and 20,000 columns")
    assert "one-hot attribute 'a' has 20,000 values" in str(error)
    assert "--drop-columns" in str(error)
    cli_refuses(capsys, path)
    refused_in_chunks(path, "20,000 columns")
    data = load(path, drop_columns=("a",))  # the way out the message names
    assert data.n_features == 0


def test_a_multi_valued_label_of_many_values_is_bounded(tmp_path: Path) -> None:
    """MEKA multi-target: 20,000 values -> a label each, checked before the label maps."""
    declared = ",".join(f"v{i}" for i in range(20_000))
    body = "\n".join(f"v{i % 3},1" for i in range(2_000))
    path = tmp_path / "target.arff"
    path.write_text(f"@relation 'r: -C 1'\n@attribute t {{{declared}}}\n@attribute x numeric\n"
                    f"@data\n{body}\n")
    refused(path, "labels of attribute 't'|label matrix")


# --- compression bombs ------------------------------------------------------------------------

def _bomb(path: Path, opener, size: int) -> Path:
    """`size` bytes of zeros after one svmlight row, compressed (a few KB on disk)."""
    with opener(path, "wb") as handle:
        handle.write(b"1 1:1\n")
        block = b"0" * (1 << 20)
        for _ in range(size >> 20):
            handle.write(block)
    return path


OPENERS = {"gz": gzip.open, "bz2": bz2.open, "xz": lzma.open}


@pytest.mark.parametrize("kind", sorted(OPENERS))
def test_compression_bomb(tmp_path: Path, capsys, monkeypatch, kind: str) -> None:
    monkeypatch.setattr(limits, "DECOMPRESSION_FLOOR", 2**20)  # small files, same principle
    path = _bomb(tmp_path / f"bomb.svm.{kind}", OPENERS[kind], 8 << 20)
    error = refused(path, r"decompresses to more than .*, over 100 times its")
    assert "MULTITAG_MAX_EXPANSION" in str(error)
    cli_refuses(capsys, path)
    refused_in_chunks(path, "decompresses to more than|line is longer")


def test_compression_bomb_with_the_default_limits(tmp_path: Path) -> None:
    path = _bomb(tmp_path / "bomb.arff.gz", gzip.open, 48 << 20)  # 48 MiB from ~50 KB
    refused(path, r"decompresses to more than 32.0 MiB")


def test_the_ratio_can_be_raised_for_a_legitimate_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(limits, "DECOMPRESSION_FLOOR", 2**16)
    path = tmp_path / "zeros.svm.gz"
    with gzip.open(path, "wb") as handle:  # very repetitive: compresses ~300 times
        handle.write(b"1 1:0\n" * 100_000)
    refused(path, "decompresses to more than")
    monkeypatch.setenv(limits.MAX_EXPANSION_ENV, "1000")
    assert load(path).n_samples == 100_000
    monkeypatch.setenv(limits.MAX_EXPANSION_ENV, "0")
    assert load(path).n_samples == 100_000


def test_ordinary_compressed_files_read_as_before(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = [f"{rng.integers(5)} {rng.integers(1, 50)}:{rng.random():.4f}" for _ in range(2000)]
    plain, packed = tmp_path / "a.svm", tmp_path / "a.svm.xz"
    plain.write_text("\n".join(rows) + "\n")
    packed.write_bytes(lzma.compress(plain.read_bytes()))
    np.testing.assert_array_equal(load(plain).X.toarray(), load(packed).X.toarray())


def test_text_read_whole_must_fit_the_budget(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "big.arff"
    path.write_text("@relation 'r: -C 1'\n@attribute l {0,1}\n@attribute a numeric\n@data\n"
                    + "1,0.5\n" * 200_000)  # 1.2 MB
    monkeypatch.setenv(limits.MEMORY_LIMIT_ENV, "2M")
    error = refused(path, "reading it whole holds about 4 times that")
    assert "MULTITAG_MEMORY_LIMIT=2M" in str(error) and "in chunks" in str(error)


def test_a_bad_limit_setting_is_a_config_error(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "a.svm"
    path.write_bytes(b"1 1:1\n")
    monkeypatch.setenv(limits.MEMORY_LIMIT_ENV, "lots")
    with pytest.raises(ConfigError, match="MULTITAG_MEMORY_LIMIT` must be a positive size"):
        load(path)
    monkeypatch.setenv(limits.MEMORY_LIMIT_ENV, "1.5g")
    assert limits.memory_budget() == int(1.5 * 2**30)
    monkeypatch.setenv(limits.MAX_EXPANSION_ENV, "-3")
    with pytest.raises(ConfigError, match="MULTITAG_MAX_EXPANSION` must be a whole number"):
        load(path)


def test_the_budget_is_derived_from_the_machine(monkeypatch) -> None:
    monkeypatch.delenv(limits.MEMORY_LIMIT_ENV)
    available = limits.available_memory()
    if available is None:
        assert limits.memory_budget() == limits.FALLBACK_BUDGET
    else:
        assert 0 < limits.memory_budget() <= available


# --- JSON lines -------------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [100, 200_000])
def test_deeply_nested_jsonl(tmp_path: Path, capsys, depth: int) -> None:
    path = tmp_path / "nested.jsonl"
    path.write_text('{"text": "a", "labels": ["x"]}\n'
                    '{"text": "b", "labels": ["y"], "n": ' + "[" * depth + "]" * depth + "}\n")
    assert refused(path, "JSON nested more than 32 levels deep").line == 2
    cli_refuses(capsys, path)
    refused_in_chunks(path, "nested more than")


def test_jsonl_with_new_keys_on_every_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "keys.jsonl"
    path.write_text("\n".join(json.dumps({"text": "a", "labels": ["x"], f"k{i}": 1})
                              for i in range(5_000)) + "\n")  # 5,000 x 5,002 cells
    refused(path, r"a table of 5,000 rows and 5,002 distinct keys")
    cli_refuses(capsys, path)
    refused_in_chunks(path, "distinct keys", chunk_rows=5_000)


def test_the_number_of_distinct_keys_is_capped(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("multitag.data.tabular.jsonl.MAX_JSON_KEYS", 50)
    path = tmp_path / "keys.jsonl"
    path.write_text("\n".join(json.dumps({"labels": ["x"], f"k{i}": 1}) for i in range(100)))
    assert refused(path, "more than 50 distinct keys by this line").line == 50


def test_many_distinct_tags_stay_sparse(tmp_path: Path) -> None:
    """A new tag on every row: Y is built sparse, not rows x tags dense."""
    path = tmp_path / "tags.jsonl"
    path.write_text("\n".join(json.dumps({"text": "a", "labels": [f"t{i}"]})
                              for i in range(10_000)))
    data = load(path)
    assert data.Y.shape == (10_000, 10_000) and sp.issparse(data.Y)


# --- Parquet ----------------------------------------------------------------------------------

def test_parquet_bomb_is_refused_from_its_metadata(tmp_path: Path, capsys, monkeypatch) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "bomb.parquet"
    zeros = pa.table({"l": np.zeros(1_000_000, dtype=np.int8),
                      "x": np.zeros(1_000_000, dtype=np.int8)})
    with pq.ParquetWriter(path, zeros.schema, compression="zstd") as writer:
        for _ in range(4):
            writer.write_table(zeros)  # 4 million rows in a few KB
    monkeypatch.setenv(limits.MEMORY_LIMIT_ENV, "32M")
    refused(path, r"the table of 4,000,000 rows and 2 columns \(from the file's metadata",
            label_columns=("l",))
    cli_refuses(capsys, path, "--label-columns", "l")
    monkeypatch.setenv(limits.MEMORY_LIMIT_ENV, "4M")
    with pytest.raises(DataFormatError, match="a chunk of 1,000,000 rows"):
        ChunkedFile(path, None, 1_000_000)


def test_arrow_out_of_memory_is_one_line(tmp_path: Path, monkeypatch) -> None:
    pa = pytest.importorskip("pyarrow")
    pd = pytest.importorskip("pandas")
    path = tmp_path / "a.parquet"
    pd.DataFrame({"l": [0, 1], "x": [1.0, 2.0]}).to_parquet(path)

    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise pa.ArrowMemoryError("malloc of size 99999999999 failed")

    monkeypatch.setattr(pd, "read_parquet", out_of_memory)
    refused(path, r"not enough memory to read the file \(malloc of size", label_columns=("l",))


# --- the last line of defence -----------------------------------------------------------------

@pytest.mark.parametrize("error, match", [
    (MemoryError("Unable to allocate 29.8 GiB for an array"), "not enough memory .*29.8 GiB"),
    (RecursionError("maximum recursion depth exceeded"), "nested too deeply to read"),
    (OverflowError("Python int too large to convert to C long"), "a number too large"),
])
def test_memory_recursion_and_overflow_errors_become_one_line(
        tmp_path: Path, capsys, monkeypatch, error: Exception, match: str) -> None:
    path = tmp_path / "a.svm"
    path.write_bytes(b"1 1:1\n2 2:1\n")

    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr("multitag.data.svmlight.reader._read", fail)
    refused(path, match)
    assert match.split()[0] in cli_refuses(capsys, path)
    monkeypatch.setattr("multitag.data.svmlight.chunks.SvmlightSource.parse", fail)
    refused_in_chunks(path, match)


# --- chunks bounded in bytes; long lines in linear time ---------------------------------------

def test_blank_lines_do_not_pile_up_in_a_chunk(tmp_path: Path) -> None:
    path = tmp_path / "blank.svm"
    path.write_bytes(b"1 1:1\n" + b"\n" * 1_500_000 + b"# a comment\n" * 1000 + b"2 2:1\n")
    tracemalloc.start()
    try:
        chunks = [(c.n_samples, c.X.shape) for c in ChunkedFile(path, chunk_rows=10)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert chunks == [(2, (2, 2))]
    assert peak < 24 * 2**20  # held as lines, 1.5 million blank lines took about 100 MB


def test_chunks_are_bounded_in_bytes(tmp_path: Path) -> None:
    path = tmp_path / "rows.svm"
    row = b"1 " + b" ".join(b"%d:1" % i for i in range(1, 200)) + b"\n"  # ~1.4 KB
    path.write_bytes(row * 100)
    chunks = list(ChunkedFile(path, chunk_rows=1000, chunk_bytes=10_000))
    assert sum(c.n_samples for c in chunks) == 100
    assert max(c.n_samples for c in chunks) <= 8
    whole = load(path)
    np.testing.assert_array_equal(sp.vstack([c.X for c in chunks]).toarray(),
                                  whole.X.toarray())
    again = ChunkedFile(path, chunk_rows=1000, chunk_bytes=10_000)
    order = again.chunk_order(np.random.default_rng(0))
    assert sum(c.n_samples for _, c in again.chunks(order)) == 100


def test_a_line_too_long_for_the_budget_is_refused_in_chunks(tmp_path: Path,
                                                             monkeypatch) -> None:
    path = tmp_path / "long.svm"
    path.write_bytes(b"1 1:1\n2 " + b" ".join(b"%d:1" % i for i in range(1, 400_000)) + b"\n")
    monkeypatch.setenv(limits.MEMORY_LIMIT_ENV, "16M")  # lines of at most 1 MiB
    with pytest.raises(DataFormatError, match=r"the line is longer than 1\.0 MiB") as info:
        list(ChunkedFile(path))
    assert info.value.line == 2


def _long_line(path: Path, n_pairs: int) -> Path:
    path.write_bytes(b"1 " + b" ".join(b"%d:1" % i for i in range(1, n_pairs)) + b"\n")
    return path


def test_long_svmlight_lines_are_read_in_linear_time(tmp_path: Path, monkeypatch) -> None:
    """Read in blocks of 1 KiB, a 10 MB line is 10,000 reads: re-copying the pending bytes on
    every read (the old way) took 12 s here, joining the pieces once well under 2 s."""
    monkeypatch.setattr(bulk, "BLOCK_BYTES", 1024)
    path = _long_line(tmp_path / "long.svm", 1_100_000)  # 10 MB
    start = time.perf_counter()
    rows = bulk.parse_plain(path, False)
    assert time.perf_counter() - start < 4.0
    assert rows is not None and len(rows.indices) == 1_099_999
    assert load(path).X.shape == (1, 1_099_999)


def test_long_lines_in_chunks_are_read_in_linear_time(tmp_path: Path) -> None:
    path = _long_line(tmp_path / "long.svm", 1_100_000)  # 10 MB
    timings = []
    for size in (4096, 1024):  # quadratic: 4 times slower with blocks 4 times smaller
        start = time.perf_counter()
        with open(path, "rb") as handle:
            blocks = list(chunking.line_blocks(handle, path, size=size))
        timings.append(time.perf_counter() - start)
        assert len(blocks) == 1 and blocks[0][0] == path.read_bytes()
    assert max(timings) < 1.0
    assert [c.X.shape for c in ChunkedFile(path)] == [(1, 1_099_999)]


def test_a_csv_header_of_very_many_columns(tmp_path: Path, capsys) -> None:
    """Every pandas column costs time and memory: 100,000 of them from a file of 800 KB."""
    path = tmp_path / "wide.csv"
    names = ",".join(f"c{i}" for i in range(100_000))
    path.write_text(f"{names},lab\n" + ",".join(["1"] * 100_001) + "\n")
    assert refused(path, r"a table of 100,001 columns \(the header line\)",
                   label_columns=("lab",)).line == 1
    cli_refuses(capsys, path, "--label-columns", "lab")
    refused_in_chunks(path, "100,001 columns", options=None)


def test_a_network_too_large_for_memory_is_refused_before_torch_allocates(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 40-byte svmlight file naming feature 3,000,000: the data layer keeps it sparse, the
    network's first layer would need gigabytes: one line, exit 2, before any allocation."""
    wide = tmp_path / "wide.svm"
    wide.write_text("1 3000000:1\n0 1:1\n1 2:1\n0 5:2\n")
    monkeypatch.setenv("MULTITAG_MEMORY_LIMIT", "1G")
    with pytest.raises(SystemExit) as done:
        main(["train", str(wide), "--out", str(tmp_path / "m"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert done.value.code == 2
    assert len(err.splitlines()) == 1
    assert "3,000,000 inputs" in err and "over the memory budget of 1.0 GiB" in err
    assert not (tmp_path / "m").exists()


def test_a_file_whose_only_feature_is_dropped_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One nominal attribute with a distinct value on nearly every row (an identifier) and the
    labels: no feature is left, which is said in one line, not a traceback or a broken model."""
    rng = np.random.default_rng(0)
    values = [f"v{i}" for i in range(1000)]
    rows = [f"{rng.integers(2)},{rng.integers(2)},{values[rng.integers(1000)]}"
            for _ in range(200)]
    path = tmp_path / "ids.arff"
    path.write_text("@relation 'ids: -C 2'\n@attribute y1 {0,1}\n@attribute y2 {0,1}\n"
                    f"@attribute f {{{','.join(values)}}}\n@data\n" + "\n".join(rows) + "\n")
    with pytest.raises(SystemExit) as done:
        main(["train", str(path), "--out", str(tmp_path / "m"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert done.value.code == 2 and len(err.splitlines()) == 1, err
    assert f"{path}: no feature left to learn from" in err and "identifier-like" in err
    assert not (tmp_path / "m").exists()


def test_the_data_fingerprint_takes_empty_blocks() -> None:
    from multitag.data.dataset import data_fingerprint

    empty = data_fingerprint(np.zeros((5, 0)), np.zeros((5, 2)), [], ["a", "b"])
    assert empty != data_fingerprint(np.zeros((4, 0)), np.zeros((4, 2)), [], ["a", "b"])
