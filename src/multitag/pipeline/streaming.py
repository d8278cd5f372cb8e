"""Out-of-core training: a file larger than memory is read in chunks, never whole.

One pass over the file collects what the in-memory path gets from the whole matrix: the row
count, how often each label occurs, the feature statistics of the preprocessor (largest absolute
value per column for sparse input, mean and standard deviation for dense; NaN filled with the
column mean) and the validation rows. A row is held out for validation by a fixed rule: a hash
of its position and the seed below a cut, so the same rows are held out in every pass; at most
`max_valid_rows` are (the ones with the smallest hashes), and they are kept in memory. Then each
epoch reads the chunks in an order shuffled with the seed, shuffles the rows inside each chunk,
and feeds batches to the ordinary `Trainer` (early stopping on the validation loss); the
decision rule is tuned on the validation rows. Memory: a chunk, the validation rows, the network.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from multitag.data.chunks import DEFAULT_CHUNK_ROWS, ChunkedFile
from multitag.data.dataset import Dataset
from multitag.data.registry import ReaderOptions
from multitag.exceptions import ConfigError, DataFormatError

MAX_VALID_ROWS = 20_000
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def row_hash(rows: np.ndarray, seed: int) -> np.ndarray:
    """A well-mixed 64-bit hash of each row position (splitmix64), the same in every pass."""
    with np.errstate(over="ignore"):
        z = rows.astype(np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return (z ^ (z >> np.uint64(31))) & _MASK64


class FeatureMoments:
    """Column statistics merged chunk by chunk (Chan et al.'s parallel variance for dense X)."""

    def __init__(self, n_features: int, sparse: bool) -> None:
        self.sparse = sparse
        self.n = 0
        self.known = np.zeros(n_features)  # non-NaN values per column
        self.mean = np.zeros(n_features)
        self.m2 = np.zeros(n_features)
        self.total = np.zeros(n_features)  # sparse: sum of non-NaN values
        self.peak = np.zeros(n_features)  # sparse: largest absolute value

    def add(self, X: Any) -> None:
        self.n += X.shape[0]
        if self.sparse:
            X = sp.csr_matrix(X)
            nan = np.isnan(X.data)
            d = X.shape[1]
            self.known += X.shape[0] - np.bincount(X.indices[nan], minlength=d)
            values = np.where(nan, 0.0, np.abs(X.data))
            peak = np.zeros(d)
            np.maximum.at(peak, X.indices, values)
            self.peak = np.maximum(self.peak, peak)
            self.total += np.bincount(X.indices, weights=np.where(nan, 0.0, X.data), minlength=d)
            return
        X = np.asarray(X, dtype=np.float64)
        count = (~np.isnan(X)).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, np.nansum(X, axis=0) / np.maximum(count, 1), 0.0)
        m2 = np.nansum((X - mean) ** 2, axis=0)
        both = self.known + count
        delta = mean - self.mean
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(both > 0, count / np.maximum(both, 1), 0.0)
        self.mean = self.mean + delta * share
        self.m2 = self.m2 + m2 + delta**2 * self.known * share
        self.known = both

    def preprocessor(self, feature_names: list[str]) -> Any:
        """The fitted Preprocessor these statistics give (NaN filled with the column mean)."""
        from multitag.features.preprocessor import preprocessor_from_statistics

        n_missing = int(self.n * len(feature_names) - self.known.sum()) if not self.sparse \
            else int((self.n - self.known).sum())
        notices = (f"imputed {n_missing} missing values with the training mean",) \
            if n_missing else ()
        if self.sparse:
            fill = np.where((self.known > 0) & (self.known < self.n),
                            self.total / np.maximum(self.known, 1), 0.0)
            peak = np.where(self.known < self.n, np.maximum(self.peak, np.abs(fill)), self.peak)
            return preprocessor_from_statistics(
                feature_names, sparse_input=True, center=None, spread=peak, fill=fill,
                notices=notices)
        std = np.sqrt(self.m2 / max(self.n, 1))
        return preprocessor_from_statistics(
            feature_names, sparse_input=False, center=self.mean, spread=std, fill=self.mean,
            notices=notices)


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
        from multitag.pipeline.defaults import DataShape

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
    from dataclasses import replace

    hashes = np.concatenate([h for h, _ in parts])
    sets = [d for _, d in parts]
    if len(sets) == 1:
        return hashes, sets[0]
    stack = (lambda ms: sp.vstack(ms, format="csr")) if sets[0].is_sparse else np.vstack
    ystack = (lambda ms: sp.vstack(ms, format="csr")) if sp.issparse(sets[0].Y) else np.vstack
    data = replace(sets[0], X=stack([d.X for d in sets]), Y=ystack([d.Y for d in sets]),
                   has_missing=any(d.has_missing for d in sets))
    return hashes, data


class StreamBatches:
    """Training batches read from the file each epoch: chunks in a seeded shuffled order,
    validation rows left out, rows shuffled within each chunk (the Trainer's data source)."""

    def __init__(self, chunks: ChunkedFile, preprocessor: Any, seed: int,
                 valid_cut: np.uint64 | None, n_rows: int, n_labels: int) -> None:
        from multitag.training.trainer import DENSE_BATCH_MAX_FEATURES

        self.chunks = chunks
        self.preprocessor = preprocessor
        self.seed = seed
        self.valid_cut = valid_cut
        self.n_rows, self.n_labels = n_rows, n_labels
        # The Trainer builds its loss from `Y`; streamed, only the label count is known here
        # (an 'auto' pos_weight was already turned into numbers from the first pass's counts).
        self.Y = np.zeros((0, n_labels), dtype=np.float32)
        self.dense_batches = (not preprocessor.sparse_input_
                              or preprocessor.n_features_out_ <= DENSE_BATCH_MAX_FEATURES)

    def batches(self, size: int, generator: torch.Generator | None,
                shuffle: bool) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        from multitag.training.trainer import _TensorData

        if shuffle and generator is not None:
            rng = np.random.default_rng(int(torch.randint(2**31, (1,), generator=generator)))
            order = self.chunks.chunk_order(rng)
        else:
            order = list(range(len(self.chunks.pieces or [])))
        for start, chunk in self.chunks.chunks(order):
            chunk = self._training_rows(start, chunk)
            if chunk is None:
                continue
            data = _TensorData(self.preprocessor.transform(chunk), chunk.Y_dense())
            yield from data.batches(size, generator, shuffle)

    def _training_rows(self, start: int, chunk: Dataset) -> Dataset | None:
        if self.valid_cut is None:
            return chunk
        hashes = row_hash(np.arange(start, start + chunk.n_samples), self.seed)
        keep = np.flatnonzero(hashes > self.valid_cut)
        if keep.size == chunk.n_samples:
            return chunk
        return chunk.subset(keep) if keep.size else None


@dataclass(frozen=True)
class StreamSettings:
    """How to stream: rows a chunk, and the most validation rows kept in memory."""

    chunk_rows: int = DEFAULT_CHUNK_ROWS
    max_valid_rows: int = MAX_VALID_ROWS


def train_stream(path: str | Path, reader: ReaderOptions | None, options: Any,
                 settings: StreamSettings = StreamSettings(), callbacks: Sequence[Any] = (),
                 on_chunk: Callable[[int], None] | None = None,
                 on_pass_end: Callable[[], None] | None = None) -> Any:
    """Train like `workflow.train_model`, reading `path` in chunks; returns a TrainOutcome.
    `on_chunk(rows)` is called during the first pass, `on_pass_end()` after it."""
    from multitag.pipeline.defaults import describe
    from multitag.pipeline.fit import TrainOutcome

    options = _single_network(options)
    started = time.perf_counter()
    chunks = ChunkedFile(path, reader, settings.chunk_rows)
    found = first_pass(chunks, options.validation_split, options.seed,
                       settings.max_valid_rows, on_chunk)
    if on_pass_end is not None:
        on_pass_end()
    _check_rows(found, options, chunks.path)
    preprocessor = found.moments.preprocessor(found.feature_names)
    shape = found.shape(preprocessor.n_features_out_)
    options, chosen = options.resolve(shape)
    options = options.with_label_names(found.label_names)
    n_valid = found.valid.n_samples if found.valid is not None else 0
    source = StreamBatches(chunks, preprocessor, options.seed,
                           found.valid_cut if n_valid else None, found.n_rows - n_valid,
                           len(found.label_names))
    module, result, rule = _fit(source, preprocessor, found, options, callbacks)
    bundle = _bundle(preprocessor, module, rule, found, options, result, settings)
    notices = [*preprocessor.notices_, *_label_notices(found)]
    if chosen:
        notices.append(describe(shape, chosen))
    return TrainOutcome(bundle=bundle, fit_seconds=time.perf_counter() - started,
                        threads=result.threads, stopped_early=result.stopped_early,
                        best_epoch=result.best_epoch, notices=notices)


def _single_network(options: Any) -> Any:
    """Streaming trains one network: `ensemble` auto means 1, more is an error; with no
    cross-fitting, `decision` auto means one global threshold (as for one network in memory)."""
    from dataclasses import replace

    from multitag.pipeline.fit import AUTO

    if options.model != "mlp":
        raise ConfigError(f"--stream trains the network (--model mlp); got --model "
                          f"{options.model} (train it without --stream)")
    if options.decision == AUTO:
        options = replace(options, decision="global")
    if options.ensemble == AUTO:
        return replace(options, ensemble=1)
    if options.ensemble != 1:
        raise ConfigError(f"--stream trains one network; got --ensemble {options.ensemble} "
                          "(use --ensemble 1, or train without --stream)")
    return options


def _check_rows(found: FirstPass, options: Any, path: Path) -> None:
    if not found.label_names:
        raise DataFormatError("no label columns were found", path=path)
    n_valid = found.valid.n_samples if found.valid is not None else 0
    if options.validation_split > 0 and (n_valid < 1 or found.n_rows - n_valid < 1):
        raise DataFormatError(
            f"{found.n_rows} rows: too few for a validation split of "
            f"{options.validation_split:g}", path=path)


def _fit(source: StreamBatches, preprocessor: Any, found: FirstPass, options: Any,
         callbacks: Sequence[Any]) -> tuple[Any, Any, Any]:
    """One network trained like `MultiLabelMLP._fit_member`, on streamed batches."""
    from multitag.estimator import objective_scorer, pin_constant_labels
    from multitag.models.mlp import MLP
    from multitag.training.config import TrainConfig
    from multitag.training.trainer import Trainer

    valid = found.valid
    torch.manual_seed(options.seed)
    module = MLP(preprocessor.n_features_out_, len(found.label_names), tuple(options.hidden),
                 options.dropout, linear_skip=bool(options.linear_skip))
    config = TrainConfig(
        epochs=options.epochs, batch_size=options.batch_size,
        learning_rate=options.learning_rate, optimizer=options.optimizer,
        weight_decay=options.weight_decay, lr_schedule=options.lr_schedule,
        early_stopping_patience=options.early_stopping_patience if valid is not None else None,
        seed=options.seed, threads=options.threads, loss=_loss_spec(options, found),
        monitor="score" if options.early_stopping_monitor == "objective" else "loss")
    X_valid = preprocessor.transform(valid) if valid is not None else None
    Y_valid = valid.Y_dense() if valid is not None else None
    scorer = objective_scorer(options.objective) if config.monitor == "score" else None
    result = Trainer(config, callbacks, scorer).fit(module, source, None, X_valid, Y_valid)
    counts, n = found.label_counts, found.n_rows
    pin_constant_labels(module, np.vstack([counts == n, counts > 0]))  # its any/all rows
    return module, result, _decision_rule(module, options, X_valid, Y_valid)


def _loss_spec(options: Any, found: FirstPass) -> Any:
    """The loss; `pos_weight='auto'` from the label counts of the training rows (the first
    pass counted them: the Trainer never sees all labels at once)."""
    from multitag.models.losses import auto_pos_weight, loss_spec_from

    extra = dict(options.loss_options)
    if options.pos_weight != "auto":
        return loss_spec_from(options.loss, options.pos_weight, **extra)
    counts = found.label_counts.astype(np.float64)
    n_train = found.n_rows
    if found.valid is not None:
        counts = counts - np.asarray(found.valid.Y.sum(axis=0)).ravel()
        n_train -= found.valid.n_samples
    summary = _LabelCounts(counts, n_train)
    return loss_spec_from(options.loss, tuple(float(w) for w in auto_pos_weight(summary)),
                          **extra)


class _LabelCounts:
    """Stands in for a label matrix where only its column sums and row count are needed."""

    def __init__(self, counts: np.ndarray, n_rows: int) -> None:
        self.counts = counts
        self.shape = (n_rows, len(counts))

    def sum(self, axis: int = 0) -> np.ndarray:
        return self.counts


def _decision_rule(module: Any, options: Any, X_valid: Any, Y_valid: Any) -> Any:
    from multitag.decision.rules import make_rule
    from multitag.models.inference import predict_scores

    if X_valid is None or options.decision == "fixed":
        return make_rule("fixed", threshold=0.5)
    params = {"objective": options.objective} if options.decision in ("global", "per_label") \
        else {}
    return make_rule(options.decision, **params).fit(Y_valid, predict_scores(module, X_valid))


def _bundle(preprocessor: Any, module: Any, rule: Any, found: FirstPass, options: Any,
            result: Any, settings: StreamSettings) -> Any:
    from multitag.bundle.directory import ModelBundle

    architecture = {"type": "mlp", "n_features": int(preprocessor.n_features_out_),
                    "n_labels": len(found.label_names), "hidden": list(options.hidden),
                    "dropout": options.dropout, "linear_skip": options.linear_skip,
                    "members": 1}
    n_valid = found.valid.n_samples if found.valid is not None else 0
    training = {**asdict(options), "n_train_rows": found.n_rows - n_valid,
                "pos_weight_used": result.pos_weight,
                "stream": {**asdict(settings), "n_valid_rows": n_valid}}
    return ModelBundle(preprocessor=preprocessor, module=module, decision_rule=rule,
                       label_names=list(found.label_names),
                       feature_names=list(found.feature_names), architecture=architecture,
                       training=training, history=result.history)


def _label_notices(found: FirstPass) -> list[str]:
    from multitag.pipeline.fit import constant_label_notices

    return constant_label_notices(found.label_names, found.label_counts, found.n_rows)
