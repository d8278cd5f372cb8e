"""Turning probabilities into output files: CSV or JSONL with ids, label names, probabilities."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from multitag.exceptions import ConfigError
from multitag.fileio import atomic_write_text


def override_rule(rule: Any, *, top_k: int | None = None, threshold: float | None = None) -> Any:
    """The saved rule, unless the user asked for top-k or one threshold instead."""
    from multitag.decision import make_rule

    if top_k is not None and threshold is not None:
        raise ConfigError("give either --top-k or --threshold, not both")
    if top_k is not None:
        return make_rule("top_k", k=top_k)
    if threshold is not None:
        return make_rule("fixed", threshold=threshold)
    return rule


def prediction_records(label_names: Sequence[str], proba: np.ndarray, predicted: np.ndarray,
                       with_proba: bool) -> Iterator[dict[str, Any]]:
    """One dict per row: id, the predicted label names, optionally every probability."""
    names = np.asarray(label_names, dtype=object)
    for row, (p, y) in enumerate(zip(proba, predicted)):
        record: dict[str, Any] = {"id": row, "labels": [str(n) for n in names[y.astype(bool)]]}
        if with_proba:
            record["probabilities"] = {str(n): round(float(v), 6) for n, v in zip(names, p)}
        yield record


def write_predictions(path: Path | None, label_names: Sequence[str], proba: np.ndarray,
                      predicted: np.ndarray, with_proba: bool = False) -> None:
    """Write CSV (default) or JSONL (.jsonl/.json) to `path` atomically, or CSV to stdout."""
    records = prediction_records(label_names, proba, predicted, with_proba)
    as_jsonl = path is not None and path.suffix.lower() in (".jsonl", ".json", ".ndjson")
    buffer = io.StringIO()
    if as_jsonl:
        for record in records:
            buffer.write(json.dumps(record) + "\n")
    else:
        _write_csv(buffer, label_names, records, with_proba)
    if path is None:
        sys.stdout.write(buffer.getvalue())
        return
    atomic_write_text(path, buffer.getvalue())


def _write_csv(handle: io.StringIO, label_names: Sequence[str],
               records: Iterator[dict[str, Any]], with_proba: bool) -> None:
    writer = csv.writer(handle, lineterminator="\n")
    header = ["id", "labels"] + ([f"p_{n}" for n in label_names] if with_proba else [])
    writer.writerow(header)
    for record in records:
        row = [record["id"], "|".join(record["labels"])]
        if with_proba:
            row += [record["probabilities"][str(n)] for n in label_names]
        writer.writerow(row)
