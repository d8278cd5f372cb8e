"""Turning probabilities into output files: CSV or JSONL with ids, label names, probabilities.

Safe for a spreadsheet: a CSV text cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage
return is written with a leading single quote (OWASP's advice against formula injection), so a
label name from training data such as `=cmd()` is shown, never run. The labels column joins
names with `|` (`LABEL_SEPARATOR`); a model whose label names contain it or a line break cannot
be written as CSV (ambiguous) and is pointed to JSONL (training refuses such names). Memory
is bounded: rows are predicted `OUTPUT_CELLS // n_labels` at a time and written one by one.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from multitag.exceptions import ConfigError, DataFormatError
from multitag.fileio import atomic_text_file

LABEL_SEPARATOR = "|"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
OUTPUT_CELLS = 1 << 21  # probabilities predicted and formatted at a time (16 MB as float64)


def override_rule(rule: Any, *, top_k: int | None = None, threshold: float | None = None) -> Any:
    """The saved rule, unless the user asked for top-k or one threshold instead."""
    from multitag.decision.rules import make_rule

    if top_k is not None and threshold is not None:
        raise ConfigError("give either --top-k or --threshold, not both")
    if top_k is not None:
        return make_rule("top_k", k=top_k)
    if threshold is not None:
        return make_rule("fixed", threshold=threshold)
    return rule


def prediction_records(label_names: Sequence[str], proba: np.ndarray, predicted: np.ndarray,
                       with_proba: bool, start: int = 0) -> Iterator[dict[str, Any]]:
    """One dict per row: id (from `start`), the predicted label names, optionally every
    probability."""
    names = np.asarray(label_names, dtype=object)
    for row, (p, y) in enumerate(zip(proba, predicted), start=start):
        record: dict[str, Any] = {"id": row, "labels": [str(n) for n in names[y.astype(bool)]]}
        if with_proba:
            record["probabilities"] = {str(n): round(float(v), 6) for n, v in zip(names, p)}
        yield record


def write_predictions(path: Path | None, label_names: Sequence[str], proba: np.ndarray,
                      predicted: np.ndarray, with_proba: bool = False) -> None:
    """Write CSV (default) or JSONL (.jsonl/.json) to `path` atomically, or CSV to stdout."""
    jsonl = is_jsonl_output(path)
    if not jsonl:  # before the output file is created
        check_csv_label_names(label_names)
    with _output(path) as handle:
        writer = PredictionWriter(handle, label_names, jsonl=jsonl, with_proba=with_proba)
        writer.write(proba, predicted)
        writer.finish()


def csv_cell(text: str) -> str:
    """`text` as a CSV cell no spreadsheet reads as a formula (a leading quote if needed)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def check_csv_label_names(label_names: Sequence[str]) -> None:
    """Refuse CSV output for names that hold the separator of its labels column, or a line
    break (Python's csv module leaves a lone CR unquoted)."""
    bad = [n for n in label_names if LABEL_SEPARATOR in n or "\n" in n or "\r" in n]
    if bad:
        raise ConfigError(
            f"label name {bad[0]!r} contains {LABEL_SEPARATOR!r} (which separates the names in "
            f"the CSV labels column) or a line break ({len(bad)} such name(s)); write JSONL "
            "instead (--output FILE.jsonl), where each row's labels are a JSON list")


def _write_csv(handle: Any, label_names: Sequence[str],
               records: Iterator[dict[str, Any]], with_proba: bool, header: bool = True) -> None:
    writer = csv.writer(handle, lineterminator="\n")
    if header:
        writer.writerow(["id", "labels"] + ([csv_cell(f"p_{n}") for n in label_names]
                                            if with_proba else []))
    for record in records:
        row = [record["id"], csv_cell(LABEL_SEPARATOR.join(record["labels"]))]
        if with_proba:
            row += [record["probabilities"][str(n)] for n in label_names]
        writer.writerow(row)


def is_jsonl_output(path: Path | None) -> bool:
    return path is not None and path.suffix.lower() in (".jsonl", ".json", ".ndjson")


class PredictionWriter:
    """Writes predictions chunk by chunk (ids continue across chunks) to an open text handle,
    in exactly the form `write_predictions` gives for all rows at once."""

    def __init__(self, handle: Any, label_names: Sequence[str], *, jsonl: bool,
                 with_proba: bool = False) -> None:
        self.handle = handle
        self.label_names = list(label_names)
        self.jsonl = jsonl
        self.with_proba = with_proba
        self.rows = 0

    def write(self, proba: np.ndarray, predicted: np.ndarray) -> None:
        records = prediction_records(self.label_names, proba, predicted, self.with_proba,
                                     start=self.rows)
        if self.jsonl:
            for record in records:  # one line at a time: nothing the size of the chunk
                self.handle.write(json.dumps(record) + "\n")
        else:
            _write_csv(self.handle, self.label_names, records, self.with_proba,
                       header=self.rows == 0)
        self.rows += len(proba)

    def finish(self) -> None:
        """A CSV of no rows still gets its header line."""
        if self.rows == 0 and not self.jsonl:
            _write_csv(self.handle, self.label_names, iter(()), self.with_proba)


def predict_chunks(bundle: Any, chunks: Iterable[Any], output: Path | None, *, rule: Any,
                   with_proba: bool = False,
                   on_chunk: Callable[[int], None] | None = None) -> int:
    """Predict every chunk (a Dataset) with `bundle` and `rule`, writing as it goes to `output`
    (CSV, or JSONL by extension; a temporary file renamed into place at the end, so an error
    leaves nothing) or CSV to stdout. Calls `on_chunk(rows)` after each chunk; returns the rows.
    """
    jsonl = is_jsonl_output(output)
    if not jsonl:  # before the output file is created
        check_csv_label_names(bundle.label_names)
    step = max(1, OUTPUT_CELLS // max(1, len(bundle.label_names)))
    with _output(output) as handle:
        writer = PredictionWriter(handle, bundle.label_names, jsonl=jsonl,
                                  with_proba=with_proba)
        for chunk in chunks:
            for part in _parts(chunk, step):
                proba = _named(getattr(chunks, "path", None), bundle.predict_proba, part)
                writer.write(proba, rule.predict(proba))
                if on_chunk is not None:
                    on_chunk(len(proba))
        writer.finish()
    return writer.rows


def _parts(chunk: Any, rows: int) -> Iterator[Any]:
    """`chunk` (a Dataset) in pieces of at most `rows` rows (itself when it is small)."""
    n = chunk.n_samples
    if n <= rows:
        yield chunk
        return
    for start in range(0, n, rows):
        yield chunk.subset(np.arange(start, min(start + rows, n)))


def _named(path: Path | None, predict: Callable[[Any], np.ndarray], chunk: Any) -> np.ndarray:
    """`predict(chunk)`; an error about the data that names no file names `path`."""
    try:
        return predict(chunk)
    except DataFormatError as err:
        if path is None or err.path is not None:
            raise
        raise DataFormatError(str(err), path=path) from err


@contextmanager
def _output(path: Path | None) -> Iterator[Any]:
    if path is None:
        yield sys.stdout
        return
    with atomic_text_file(path) as handle:
        yield handle
