"""Out-of-core training: a file larger than memory is read in chunks, never whole.

One pass over the file collects what the in-memory path gets from the whole matrix: the row
count, how often each label occurs, the feature statistics of the preprocessor (largest absolute
value per column for sparse input, mean and standard deviation for dense; NaN filled with the
column mean) and the validation rows. A row is held out for validation by a fixed rule: a hash
of its position and the seed below a cut, so the same rows are held out in every pass; at most
`max_valid_rows` are (the ones with the smallest hashes), and they are kept in memory. Then each
epoch reads the chunks in an order shuffled with the seed and shuffles the rows inside each
(`StreamBatches`); the network itself is trained exactly as in memory
(`multitag.pipeline.members.train_network`), and the decision rule is tuned on the validation
rows. Memory: a chunk, the validation rows, the network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from multitag.data.chunks import ChunkedFile
from multitag.data.dataset import Dataset
from multitag.exceptions import ConfigError, DataFormatError
from multitag.features.statistics import FeatureMoments
from multitag.options import AUTO, TrainOptions
from multitag.pipeline.defaults import VALIDATION_SPLIT, DataShape
from multitag.pipeline.inputs import Prepared, constant_label_notices
from multitag.pipeline.members import (
    Networks,
    NetworkSpec,
    held_out_scores,
    loss_spec,
    train_network,
    trainer_config,
)
from multitag.training.batches import row_hash

MAX_VALID_ROWS = 20_000


@dataclass
class StreamPlan:
    """How a streamed run reads its file: the chunks, the hash cut of the validation rows,
    the validation rows themselves (preprocessed, in memory) and the training rows' count."""

    chunks: ChunkedFile
    valid_cut: np.uint64 | None
    X_valid: Any
    Y_valid: np.ndarray | None
    n_train_rows: int
    train_counts: np.ndarray
    max_valid_rows: int


def prepare_stream(chunks: ChunkedFile, options: TrainOptions, callbacks: Sequence[Any] = (),
                   max_valid_rows: int = MAX_VALID_ROWS) -> Prepared:
    """One pass over `chunks`: the fitted preprocessor, the data's shape and label counts, and
    the validation rows (callbacks' `on_pass_chunk(rows)` and `on_pass_end()` follow it)."""
    from multitag.pipeline.members import announce

    split = VALIDATION_SPLIT if options.validation_split == AUTO else options.validation_split
    found = first_pass(chunks, split, options.seed, max_valid_rows,
                       lambda rows: announce(callbacks, "on_pass_chunk", rows))
    announce(callbacks, "on_pass_end")
    _check_rows(found, split, chunks)
    preprocessor = found.moments.preprocessor(found.feature_names, options.scale)
    valid = found.valid
    valid_counts = (np.asarray(valid.Y.sum(axis=0)).ravel().astype(np.int64)
                    if valid is not None else np.zeros_like(found.label_counts))
    plan = StreamPlan(
        chunks, found.valid_cut if valid is not None else None,
        preprocessor.transform(valid) if valid is not None else None,
        valid.Y_dense() if valid is not None else None,
        found.n_rows - (valid.n_samples if valid is not None else 0),
        found.label_counts - valid_counts, max_valid_rows)
    notices = [*preprocessor.notices_, *constant_label_notices(
        found.label_names, found.label_counts, found.n_rows)]
    return Prepared(preprocessor, found.label_names, found.feature_names,
                    found.shape(preprocessor.n_features_out_), found.label_counts,
                    stream=plan, notices=notices)


def fit_stream(prepared: Prepared, spec: NetworkSpec) -> Networks:
    """One network on batches read from the file every epoch."""
    from multitag.training.batches import StreamBatches

    plan = prepared.stream
    options = spec.options
    source = StreamBatches(plan.chunks, prepared.preprocessor, options.seed, plan.valid_cut,
                           plan.n_train_rows, len(prepared.label_names))
    valid = (plan.X_valid, plan.Y_valid) if plan.valid_cut is not None else None
    positives = (plan.train_counts, plan.n_train_rows)
    network, result = train_network(spec, source, valid, options.seed, positives)
    Y_held = plan.Y_valid if valid is not None else np.zeros((0, spec.n_labels))
    P_held = held_out_scores(network, plan.X_valid) if valid is not None else Y_held
    config = trainer_config(options, options.seed, valid is not None, loss_spec(options,
                                                                               *positives))
    return Networks(network, result, [result], Y_held, P_held, config.to_dict())


def stream_training_info(prepared: Prepared) -> dict[str, Any]:
    """What model.json records of a streamed run."""
    plan = prepared.stream
    return {"chunk_rows": plan.chunks.chunk_rows, "max_valid_rows": plan.max_valid_rows,
            "n_valid_rows": prepared.n_rows - plan.n_train_rows}


@dataclass
class FirstPass:
    """What one pass over the file found."""

    n_rows: int
    label_counts: np.ndarray
    moments: FeatureMoments
    feature_names: list[str]
    label_names: list[str]
    valid: Dataset | None
    valid_cut: np.uint64  # rows whose hash is at most this are validation rows
    nonzeros: int = 0  # sparse input: stored values

    def shape(self, n_features_out: int) -> Any:
        """The data's shape for the `auto` settings (dense input counts as fully dense)."""
        cells = max(self.n_rows * n_features_out, 1)
        density = self.nonzeros / cells if self.moments.sparse else 1.0
        return DataShape(self.n_rows, n_features_out, len(self.label_names), density)


def first_pass(chunks: ChunkedFile, validation_split: float, seed: int,
               max_valid_rows: int = MAX_VALID_ROWS,
               on_chunk: Callable[[int], None] | None = None) -> FirstPass:
    """Count rows and labels, gather feature statistics and the validation rows."""
    cut = np.uint64(min(int(validation_split * 2.0**64), 2**64 - 1))
    parts: list[tuple[np.ndarray, Dataset]] = []
    moments, counts, n_rows, first, nonzeros = None, None, 0, None, 0
    for chunk in chunks:
        _check_streamable(chunk)
        first = first or chunk
        if moments is None:
            moments = FeatureMoments(chunk.n_features, chunk.is_sparse)
            counts = np.zeros(chunk.n_labels, dtype=np.int64)
        moments.add(chunk.X)
        nonzeros += chunk.X.nnz if chunk.is_sparse else 0
        counts += np.asarray(chunk.Y.sum(axis=0)).ravel().astype(np.int64)
        hashes = row_hash(np.arange(n_rows, n_rows + chunk.n_samples), seed)
        held = np.flatnonzero(hashes <= cut) if validation_split > 0 else np.zeros(0, int)
        if held.size:
            parts = _keep_smallest([*parts, (hashes[held], chunk.subset(held))], max_valid_rows)
        n_rows += chunk.n_samples
        if on_chunk is not None:
            on_chunk(chunk.n_samples)
    if first is None:
        raise DataFormatError("no data rows to train on", path=chunks.path)
    valid, cut = _valid_rows(parts, cut, max_valid_rows)
    return FirstPass(n_rows, counts, moments, list(first.feature_names),
                     list(first.label_names), valid, cut, nonzeros)


def _check_streamable(chunk: Dataset) -> None:
    if chunk.texts is not None:
        raise ConfigError("--stream cannot build TF-IDF features from a text column (that "
                          "needs the whole vocabulary); train without --stream")


def _keep_smallest(parts: list[tuple[np.ndarray, Dataset]],
                   limit: int) -> list[tuple[np.ndarray, Dataset]]:
    """Only the `limit` rows with the smallest hashes (merged into one part when trimmed)."""
    if sum(len(h) for h, _ in parts) <= 2 * limit:
        return parts
    hashes, data = _concat(parts)
    keep = np.sort(np.argsort(hashes, kind="stable")[:limit])
    return [(hashes[keep], data.subset(keep))]


def _valid_rows(parts: list[tuple[np.ndarray, Dataset]], cut: np.uint64,
                limit: int) -> tuple[Dataset | None, np.uint64]:
    if not parts:
        return None, cut
    hashes, data = _concat(parts)
    if len(hashes) > limit:
        keep = np.sort(np.argsort(hashes, kind="stable")[:limit])
        cut = np.uint64(hashes[keep].max())
        hashes, data = hashes[keep], data.subset(keep)
    return data, cut


def _concat(parts: list[tuple[np.ndarray, Dataset]]) -> tuple[np.ndarray, Dataset]:

    hashes = np.concatenate([h for h, _ in parts])
    sets = [d for _, d in parts]
    if len(sets) == 1:
        return hashes, sets[0]
    stack = (lambda ms: sp.vstack(ms, format="csr")) if sets[0].is_sparse else np.vstack
    ystack = (lambda ms: sp.vstack(ms, format="csr")) if sp.issparse(sets[0].Y) else np.vstack
    data = replace(sets[0], X=stack([d.X for d in sets]), Y=ystack([d.Y for d in sets]),
                   has_missing=any(d.has_missing for d in sets))
    return hashes, data



def _check_rows(found: FirstPass, split: float, chunks: ChunkedFile) -> None:
    if not found.label_names:
        raise DataFormatError("no label columns were found", path=chunks.path)
    n_valid = found.valid.n_samples if found.valid is not None else 0
    if split > 0 and (n_valid < 1 or found.n_rows - n_valid < 1):
        raise DataFormatError(
            f"{found.n_rows} rows: too few for a validation split of {split:g}",
            path=chunks.path)
