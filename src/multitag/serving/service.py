"""HTTP service for a saved model (optional extra `multitag[serve]`: FastAPI + uvicorn).

`create_app(bundle)` builds a FastAPI app whose request models are derived from the model: the
exact feature count, the feature names, whether text is expected. Every malformed request is
answered with a 4xx and a message saying what is wrong (400 unreadable body, 413 too large,
422 invalid values); prediction runs in a worker thread so the event loop keeps answering; requests
that arrive while the model is busy are predicted together in one call.

Not defined here on purpose: `from __future__ import annotations`. FastAPI reads the endpoint's
annotations at run time, and the request types are built per model inside `create_app`.
"""

import asyncio
import json
from typing import Annotated, Any, NamedTuple

import numpy as np

from multitag import __version__
from multitag.bundle.directory import ModelBundle
from multitag.exceptions import ConfigError, MultitagError
from multitag.serving.errors import (
    NAMES_LISTED,
    Rejected,
    body_problem,
    missing_features,
    shown_names,
)
from multitag.serving.limits import BodyLimit
from multitag.serving.schema import (
    ERRORS,
    HealthResponse,
    LabelsResponse,
    PredictResponse,
    Spec,
    request_type,
)

try:
    from fastapi import Body, FastAPI, Request
    from fastapi.concurrency import run_in_threadpool
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as err:  # pragma: no cover - depends on the installed extras
    raise ConfigError("serving needs the `serve` extra: pip install 'multitag[serve]'") from err

DEFAULT_MAX_ITEMS = 1000
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024


# --------------------------------------------------------------------------- prediction
class _Ready(NamedTuple):
    """A request that passed every check: its items, decision rule and, with `--impute`, the
    names each item lacked (None without `--impute`)."""

    body: Any
    items: list[Any]
    rule: Any
    absent: list[list[str]] | None


class _Predictor:
    """Turns validated requests into the model's answers (runs in a worker thread)."""

    def __init__(self, bundle: ModelBundle, spec: Spec) -> None:
        self.bundle = bundle
        self.spec = spec
        self.labels = np.asarray(bundle.label_names, dtype=object)

    def many(self, bodies: list[Any]) -> list[bytes | MultitagError | Rejected]:
        """JSON answers (`PredictResponse`) to several requests from one call of the model;
        errors stay per request."""
        prepared = [self._prepare(body) for body in bodies]
        ready = [p for p in prepared if isinstance(p, _Ready)]
        try:
            proba = self._proba([item for p in ready for item in p.items])
        except MultitagError as err:
            if len(ready) > 1:  # find whose request it is
                return [answer for body in bodies for answer in self.many([body])]
            return [err if isinstance(p, _Ready) else p for p in prepared]
        answers: list[bytes | MultitagError | Rejected] = []
        start = 0
        for p in prepared:
            if isinstance(p, _Ready):
                answers.append(self._answer(proba[start:start + len(p.items)], p))
                start += len(p.items)
            else:
                answers.append(p)
        return answers

    def _prepare(self, body: Any) -> _Ready | MultitagError | Rejected:
        from multitag.pipeline.predict import override_rule

        batch = isinstance(getattr(body, "items", None), list)
        items = body.items if batch else [body]
        try:
            for position, item in enumerate(items):
                self._check_names(getattr(item, "features", None), position)
            absent = [self._absent(getattr(item, "features", None)) for item in items]
            if self.spec.needs_all and any(absent):
                return self._refuse_missing(absent, batch)
            if body.top_k is not None and body.threshold is not None:
                raise ConfigError("give either `top_k` or `threshold`, not both")
            rule = override_rule(self.bundle.decision_rule, top_k=body.top_k,
                                 threshold=body.threshold)
        except MultitagError as err:
            return err
        return _Ready(body, items, rule, absent if self.spec.impute else None)

    def _absent(self, features: Any) -> list[str]:
        """The model's features missing from an item's {name: value} (none for a model trained
        on sparse input: there an absent name is a 0)."""
        if not isinstance(features, dict) or self.spec.sparse:
            return []
        if len(features) == len(self.spec.names):  # every name is known (checked before)
            return []
        return [name for name in self.spec.names if name not in features]

    def _refuse_missing(self, absent: list[list[str]], batch: bool) -> Rejected:
        if self.spec.imputes:
            fill = getattr(self.bundle.preprocessor, "impute", "median")
            remedy = (f"send every feature, or start the server with --impute to fill absent "
                      f"features with the training {fill}")
        else:
            remedy = ("send every feature (the model was trained without imputation, so each "
                      "is required)")
        missing = [(position if batch else None, names)
                   for position, names in enumerate(absent) if names]
        return missing_features(missing, len(self.spec.names), remedy)

    def _proba(self, items: list[Any]) -> np.ndarray:
        """`ModelBundle.predict_proba` of the items (its float64 weights are cached)."""
        if not items:
            return np.zeros((0, len(self.labels)))
        return self.bundle.predict_proba(self._dataset(items))

    def _answer(self, proba: np.ndarray, ready: _Ready) -> bytes | MultitagError:
        if not np.isfinite(proba).all():
            return ConfigError("the features are too large in magnitude: the network's output "
                               "is not a number; send values of the training data's scale")
        absent = ready.absent if ready.absent is not None else [None] * len(proba)
        predictions = [self._one(p, y, ready.body.proba, names)
                       for p, y, names in zip(proba, ready.rule.predict(proba), absent)]
        return json.dumps({"predictions": predictions}).encode()

    def _check_names(self, features: Any, position: int) -> None:
        if isinstance(features, dict):
            unknown = [n for n in features if n not in self.spec.index]
            if unknown:
                raise ConfigError(f"item {position}: unknown feature name(s) "
                                  f"{shown_names(unknown)}; GET /docs lists the names")

    def _dataset(self, items: list[Any]) -> Any:
        from multitag.data.dataset import Dataset

        rows = self._sparse_rows(items) if self.spec.sparse else self._dense_rows(items)
        texts = [item.text for item in items] if self.spec.text else None
        return Dataset(X=rows, Y=np.zeros((len(items), 0)), feature_names=self.spec.names,
                       label_names=[], texts=texts, has_missing=True)

    def _dense_rows(self, items: list[Any]) -> np.ndarray:
        """Absent names are NaN: filled by the model's preprocessing (only with `--impute`;
        otherwise such items were refused before)."""
        rows = np.full((len(items), len(self.spec.names)), np.nan)
        for r, item in enumerate(items):
            features = getattr(item, "features", None)
            if isinstance(features, dict):
                for name, value in features.items():
                    rows[r, self.spec.index[name]] = value
            elif features is not None:
                rows[r] = features
        return rows

    def _sparse_rows(self, items: list[Any]) -> Any:
        """CSR built from the values sent (absent names are 0), never a dense matrix of every
        feature: a sparse model may have very many."""
        import scipy.sparse as sp

        rows: list[int] = []
        cols: list[int] = []
        values: list[float] = []
        for r, item in enumerate(items):
            features = getattr(item, "features", None)
            pairs = (((self.spec.index[n], v) for n, v in features.items())
                     if isinstance(features, dict) else enumerate(features or ()))
            for c, v in pairs:
                if v:
                    rows.append(r)
                    cols.append(c)
                    values.append(v)
        return sp.csr_matrix((np.asarray(values, dtype=np.float64), (rows, cols)),
                             shape=(len(items), len(self.spec.names)))

    def _one(self, p: np.ndarray, y: np.ndarray, with_proba: bool,
             absent: list[str] | None) -> dict[str, Any]:
        """One `Prediction` as plain JSON types (serialised here, in the worker thread)."""
        answer: dict[str, Any] = {"labels": [str(n) for n in self.labels[y.astype(bool)]]}
        if with_proba:
            answer["probabilities"] = {str(n): float(v) for n, v in zip(self.labels, p)}
        if absent is not None:
            answer["imputed"] = absent[:NAMES_LISTED]
            answer["n_imputed"] = len(absent)
        return answer


class _Batcher:
    """Requests that arrive while the model is busy wait, then go to it together: one call in
    a worker thread per batch (rows are independent, so batching changes no answer)."""

    def __init__(self, predictor: _Predictor, max_requests: int = 64) -> None:
        self.predictor = predictor
        self.max_requests = max_requests
        self.pending: list[tuple[Any, asyncio.Future[Any]]] = []
        self.busy = False
        self.tasks: set[asyncio.Task[None]] = set()  # references, so no task is collected

    async def submit(self, body: Any) -> bytes | Rejected:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending.append((body, future))
        if not self.busy:
            self.busy = True
            task = asyncio.ensure_future(self._drain())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        result = await future
        if isinstance(result, Exception):
            raise result
        return result

    async def _drain(self) -> None:
        try:
            while self.pending:  # no await between this test and `busy = False`
                batch = self.pending[:self.max_requests]
                del self.pending[:len(batch)]
                await self._run(batch)
        finally:
            self.busy = False

    async def _run(self, batch: list[tuple[Any, asyncio.Future[Any]]]) -> None:
        try:
            results = await run_in_threadpool(self.predictor.many, [b for b, _ in batch])
        except Exception as err:  # a bug, not bad input: every waiting request gets a 500
            results = [err] * len(batch)
        for (_, future), result in zip(batch, results):
            if not future.done():
                future.set_result(result)


# --------------------------------------------------------------------------- the app
def create_app(bundle: ModelBundle, max_items: int = DEFAULT_MAX_ITEMS,
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, impute: bool = False) -> FastAPI:
    """The FastAPI app serving `bundle` (already loaded: it is shared by every request).

    An item sent as {name: value} must hold every feature (else 422 naming the missing ones),
    unless `impute`: then absent features are filled by the model's preprocessing (the
    training median/mean, as for NaN) and each prediction lists them. A model trained on
    sparse input reads absent names as 0 either way."""
    if max_items < 1 or max_body_bytes < 1:
        raise ConfigError(f"`max_items` and `max_body_bytes` must be positive; got "
                          f"{max_items} and {max_body_bytes}")
    spec = Spec(bundle, max_items, impute=bool(impute))
    if spec.impute and spec.names and not spec.sparse and not spec.imputes:
        raise ConfigError("`--impute` needs a model trained with imputation (median or mean); "
                          "this one was trained with impute='none', so every feature is "
                          "required")
    batcher = _Batcher(_Predictor(bundle, spec))
    body_type = request_type(spec)
    app = FastAPI(title="multitag", version=__version__,
                  description=_description(bundle, spec, max_body_bytes))

    async def predict(body: Annotated[body_type, Body()]) -> Response:  # type: ignore[valid-type]
        """Label names (and optionally probabilities) for one item or a batch of items."""
        answer = await batcher.submit(body)
        if isinstance(answer, Rejected):
            return JSONResponse(status_code=422, content={"detail": answer.detail})
        return Response(answer, media_type="application/json")

    app.post("/predict", response_model=PredictResponse, response_model_exclude_none=True,
             responses=ERRORS)(predict)
    _add_info_routes(app, bundle, spec)
    _add_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    return app


def _description(bundle: ModelBundle, spec: Spec, max_body_bytes: int) -> str:
    inputs = [f"{len(spec.names)} numeric features"] if spec.names else []
    inputs += ["a text"] if spec.text else []
    absent = ""
    if spec.names:
        absent = (" Features absent from an item's {name: value} count as 0 (sparse model)."
                  if spec.sparse else " Absent features are filled with the training value "
                  "and listed in each prediction's `imputed`." if spec.impute else
                  " Every feature is required: a 422 names any that are missing.")
    return (f"Multi-label predictions of a multitag model: {len(bundle.label_names)} labels from "
            f"{' and '.join(inputs) or 'no input'} per item.{absent} At most {spec.max_items} "
            f"items per request and {max_body_bytes:,} bytes per body.")


def _add_info_routes(app: FastAPI, bundle: ModelBundle, spec: Spec) -> None:
    labels = LabelsResponse(labels=list(bundle.label_names))
    health = HealthResponse(status="ok", multitag_version=__version__,
                            n_features=len(spec.names), n_labels=len(bundle.label_names),
                            text=spec.text, impute=spec.impute)

    async def get_labels() -> LabelsResponse:
        """The label names, in the order of every probability output."""
        return labels

    async def get_health() -> HealthResponse:
        """Liveness: the model is loaded and the server answers."""
        return health

    # HEAD is answered as GET without the body (load balancers probe with it); it stays out
    # of the OpenAPI schema, as HTTP implies it wherever GET is allowed.
    for path, endpoint, model in (("/labels", get_labels, LabelsResponse),
                                  ("/health", get_health, HealthResponse)):
        app.get(path, response_model=model)(endpoint)
        app.head(path, response_model=model, include_in_schema=False)(endpoint)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            error = errors[0].get("ctx", {}).get("error", "invalid JSON")
            return _message(400, f"the body is not valid JSON: {error} (at character "
                                 f"{errors[0]['loc'][-1]})")
        problem = body_problem(errors, request.headers.get("content-type"))
        if problem is not None:
            return _message(*problem)
        return JSONResponse(status_code=422, content={"detail": _plain(errors)})

    @app.exception_handler(MultitagError)
    async def _rejected(request: Request, exc: MultitagError) -> JSONResponse:
        detail = [{"loc": ["body"], "msg": str(exc), "type": "value_error"}]
        return JSONResponse(status_code=422, content={"detail": detail})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            detail = ("the body could not be read as JSON (nested too deeply, a number too "
                      "long, or not UTF-8)")
        return JSONResponse(status_code=exc.status_code, content={"detail": detail},
                            headers=getattr(exc, "headers", None))


def _plain(errors: Any) -> list[dict[str, Any]]:
    """Validation errors as plain JSON (the offending input is left out: it can be huge)."""
    return [{"loc": [str(p) if not isinstance(p, int) else p for p in e.get("loc", ())],
             "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))} for e in errors]


def _message(status: int, text: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": text})


# --------------------------------------------------------------------------- running
def serve(bundle: ModelBundle, host: str = "127.0.0.1", port: int = 8000, *,
          max_items: int = DEFAULT_MAX_ITEMS, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
          impute: bool = False, threads: int = 1, log_level: str = "info") -> None:
    """Run the service with uvicorn until interrupted.

    `threads` is torch's intra-op thread count. One is the default: requests are small and
    batched, and on few cores more threads cost more in synchronisation than they gain.
    (`multitag serve` also sets OMP_NUM_THREADS before torch loads; see cli/serve.py.)"""
    import torch
    import uvicorn

    if not 0 <= port <= 65535:
        raise ConfigError(f"`--port` must be an integer in [0, 65535]; got {port}")
    if threads < 1:
        raise ConfigError(f"`--threads` must be a positive integer; got {threads}")
    app = create_app(bundle, max_items=max_items, max_body_bytes=max_body_bytes, impute=impute)
    torch.set_num_threads(threads)
    uvicorn.run(app, host=host, port=port, log_level=log_level)
