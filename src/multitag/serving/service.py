"""HTTP service for a saved model (optional extra `multitag[serve]`: FastAPI + uvicorn).

`create_app(bundle)` builds a FastAPI app whose request models are derived from the model: the
exact feature count, the feature names, whether text is expected. Every malformed request is
answered with a 4xx and a message saying what is wrong (400 unreadable body, 408 body too slow,
413 too large, 422 invalid values, 503 busy); prediction runs in a worker thread so the event
loop keeps answering; requests that arrive while the model is busy are predicted together in
one call. The limits (`ServiceLimits`) are enforced on bodies by `limits.RequestGuard` and on
connections by `runner` (header timeout, connection cap, graceful shutdown).

Not defined here on purpose: `from __future__ import annotations`. FastAPI reads the endpoint's
annotations at run time, and the request types are built per model inside `create_app`.
"""

import json
import sys
from typing import Annotated, Any, NamedTuple

import numpy as np

from multitag import __version__
from multitag.bundle.directory import ModelBundle
from multitag.exceptions import ConfigError, MultitagError
from multitag.serving.batching import Batcher
from multitag.serving.errors import (
    NAMES_LISTED,
    Rejected,
    body_problem,
    missing_features,
    shown_names,
)
from multitag.serving.limits import MIN_BODY_RATE, RequestGuard, ServiceLimits
from multitag.serving.schema import (
    ERRORS,
    INFO_ERRORS,
    HealthResponse,
    LabelsResponse,
    PredictResponse,
    Spec,
    request_type,
)

try:
    from fastapi import Body, FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as err:  # pragma: no cover - depends on the installed extras
    raise ConfigError("serving needs the `serve` extra: pip install 'multitag[serve]'") from err

DEFAULT_MAX_ITEMS = ServiceLimits.max_items
DEFAULT_MAX_BODY_BYTES = ServiceLimits.max_body_bytes


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


# --------------------------------------------------------------------------- the app
def create_app(bundle: ModelBundle, max_items: int | None = None,
               max_body_bytes: int | None = None, impute: bool = False, *,
               limits: ServiceLimits | None = None) -> FastAPI:
    """The FastAPI app serving `bundle` (already loaded: it is shared by every request).

    An item sent as {name: value} must hold every feature (else 422 naming the missing ones),
    unless `impute`: then absent features are filled by the model's preprocessing (the
    training median/mean, as for NaN) and each prediction lists them. A model trained on
    sparse input reads absent names as 0 either way. `max_items`/`max_body_bytes`, when
    given, replace those of `limits` (the defaults of `ServiceLimits` otherwise); the app
    keeps its limits in `app.state.limits` for the server (`runner.make_server`)."""
    limits = _limits(limits, max_items, max_body_bytes)
    spec = Spec(bundle, limits, impute=bool(impute))
    if spec.impute and spec.names and not spec.sparse and not spec.imputes:
        raise ConfigError("`--impute` needs a model trained with imputation (median or mean); "
                          "this one was trained with impute='none', so every feature is "
                          "required")
    batcher = Batcher(_Predictor(bundle, spec).many, spec.max_items)
    body_type = request_type(spec)
    app = FastAPI(title="multitag", version=__version__,
                  description=_description(bundle, spec, limits))
    app.state.limits = limits

    async def predict(body: Annotated[body_type, Body()]) -> Response:  # type: ignore[valid-type]
        """Label names (and optionally probabilities) for one item or a batch of items."""
        items = getattr(body, "items", None)
        answer = await batcher.submit(body, len(items) if isinstance(items, list) else 1)
        if isinstance(answer, Rejected):
            return JSONResponse(status_code=422, content={"detail": answer.detail})
        return Response(answer, media_type="application/json")

    app.post("/predict", response_model=PredictResponse, response_model_exclude_none=True,
             responses=ERRORS)(predict)
    _add_info_routes(app, bundle, spec)
    _add_error_handlers(app)
    app.add_middleware(RequestGuard, limits=limits)
    return app


def _limits(limits: ServiceLimits | None, max_items: int | None,
            max_body_bytes: int | None) -> ServiceLimits:
    from dataclasses import replace

    given = {k: v for k, v in (("max_items", max_items), ("max_body_bytes", max_body_bytes))
             if v is not None}
    return replace(limits or ServiceLimits(), **given)


def _description(bundle: ModelBundle, spec: Spec, limits: ServiceLimits) -> str:
    inputs = [f"{len(spec.names)} numeric features"] if spec.names else []
    inputs += ["a text"] if spec.text else []
    absent = ""
    if spec.names:
        absent = (" Features absent from an item's {name: value} count as 0 (sparse model)."
                  if spec.sparse else " Absent features are filled with the training value "
                  "and listed in each prediction's `imputed`." if spec.impute else
                  " Every feature is required: a 422 names any that are missing.")
    fewer = (f" (fewer than --max-items {limits.max_items:,}: each item costs "
             f"{spec.values_per_item:,} values, dense features + labels, and one request "
             f"may cost {limits.max_values:,})" if spec.max_items < limits.max_items else "")
    return (f"Multi-label predictions of a multitag model: {len(bundle.label_names)} labels from "
            f"{' and '.join(inputs) or 'no input'} per item.{absent} At most {spec.max_items:,} "
            f"items per request{fewer} and {limits.max_body_bytes:,} bytes per body (413). "
            f"A body must arrive with no pause over {limits.read_timeout:g} s and at "
            f"{MIN_BODY_RATE:,} bytes/s on average beyond that (else 408); when requests in "
            f"progress hold {limits.buffered_bytes:,} body bytes, or "
            f"{limits.max_connections:,} connections are open, a request gets 503 (retry).")


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
        app.get(path, response_model=model, responses=INFO_ERRORS)(endpoint)
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
          limits: ServiceLimits | None = None, impute: bool = False, threads: int = 1,
          log_level: str = "info") -> None:
    """Run the service with uvicorn until interrupted (SIGTERM or Ctrl-C: in-flight requests
    get `limits.shutdown_timeout` seconds to finish, then the function returns).

    `threads` is the BLAS thread count of the (numpy) inference. One is the default: requests
    are small and batched, and on few cores more threads cost more in synchronisation than they
    gain. (`multitag serve` also sets the thread variables before numpy loads; cli/serve.py.)
    torch is not imported: the model answers with numpy."""
    from threadpoolctl import threadpool_limits

    from multitag.serving.runner import make_server

    if not 0 <= port <= 65535:
        raise ConfigError(f"`--port` must be an integer in [0, 65535]; got {port}")
    if threads < 1:
        raise ConfigError(f"`--threads` must be a positive integer; got {threads}")
    app = create_app(bundle, impute=impute, limits=limits)
    threadpool_limits(threads)  # process-wide from here on (numpy's BLAS, OpenMP)
    if "torch" in sys.modules:  # loaded by the caller: its pool too
        sys.modules["torch"].set_num_threads(threads)
    make_server(app, host=host, port=port, log_level=log_level).run()
