"""The HTTP service's request and response models (pydantic), derived per model for requests.

The response models (`PredictResponse`, `LabelsResponse`, `HealthResponse` and the 400/413/422
error bodies in `ERRORS`) are fixed; `Spec` reads from a saved model what a request must hold
(feature count and names, text, sparse input, whether absent features are imputed, label count),
and `request_type(spec)` builds the single-item or batch request type FastAPI validates bodies
against. Not defined here on purpose: `from __future__ import annotations` (pydantic and FastAPI
read annotations at run time).
"""

from typing import Annotated, Any, Literal, Union

from multitag.bundle.directory import ModelBundle
from multitag.exceptions import ConfigError
from multitag.serving.errors import NAMES_LISTED
from multitag.serving.limits import ServiceLimits

try:
    from pydantic import (
        BaseModel,
        BeforeValidator,
        ConfigDict,
        Discriminator,
        Field,
        Tag,
        create_model,
    )
except ImportError as err:  # pragma: no cover - depends on the installed extras
    raise ConfigError("serving needs the `serve` extra: pip install 'multitag[serve]'") from err

MAX_TEXT_CHARS = 100_000
FEATURE_LIMIT = 1e15
_NAMES_IN_SCHEMA = 2000
_STRICT = ConfigDict(extra="forbid", strict=True)
_EITHER = ConfigDict(extra="forbid", strict=True,  # top_k or threshold, never both
                     json_schema_extra={"not": {"required": ["top_k", "threshold"]}})
Finite = Annotated[float, Field(allow_inf_nan=False, ge=-FEATURE_LIMIT, le=FEATURE_LIMIT)]


def _whole(value: Any) -> Any:
    """JSON Schema counts 2.0 as an integer; so does this server (2.5 stays an error)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


WholeNumber = Annotated[int, BeforeValidator(_whole)]


# --------------------------------------------------------------------------- response models
class ErrorMessage(BaseModel):
    """A 400 or 413 answer."""

    detail: str


class ErrorItem(BaseModel):
    """One problem of a 422 answer: where (`loc`), what (`msg`) and its kind (`type`)."""

    loc: list[str | int]
    msg: str
    type: str
    ctx: dict[str, Any] | None = Field(None, description=(
        "Details, when there are any: for `missing_features`, `missing` (the first "
        f"{NAMES_LISTED} absent names) and `n_missing` (how many in all)."))


class ValidationErrors(BaseModel):
    """A 422 answer."""

    detail: list[ErrorItem]


class Prediction(BaseModel):
    """One item's predicted label names and, if asked for, every label's probability.

    A server started with `--impute` also says which features the item lacked and were filled
    with the training value (`imputed`, the first names, and `n_imputed`, how many)."""

    labels: list[str]
    probabilities: dict[str, float] | None = None
    imputed: list[str] | None = Field(None, max_length=NAMES_LISTED, description=(
        f"Only with `--impute`: the first {NAMES_LISTED} features absent from the item, in "
        "training order, filled with the training median/mean."))
    n_imputed: int | None = Field(None, ge=0, description=(
        "Only with `--impute`: how many features were absent and filled."))


class PredictResponse(BaseModel):
    predictions: list[Prediction]


class LabelsResponse(BaseModel):
    labels: list[str]


class HealthResponse(BaseModel):
    status: Literal["ok"]
    multitag_version: str
    n_features: int
    n_labels: int
    text: bool
    impute: bool = Field(description="Whether absent features are imputed (`--impute`) "
                                     "instead of refused.")


# Answers of the transport and body guard, possible on every route (`limits.RequestGuard`,
# `runner`); every status the service can return is listed with its body, for clients and
# schema-driven tests alike.
INFO_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorMessage, "description": "The Content-Length header is not a number."},
    408: {"model": ErrorMessage, "description": "The body did not arrive in time (the "
          "server's read timeout); the connection is closed."},
    413: {"model": ErrorMessage, "description": "The body is larger than the server's limit."},
    503: {"model": ErrorMessage, "description": "The server is busy (its connection or "
          "buffered-bytes limit is reached: retry after `Retry-After` seconds) or shutting "
          "down."},
}
ERRORS: dict[int | str, dict[str, Any]] = {
    **INFO_ERRORS,
    400: {"model": ErrorMessage, "description": "The body is empty or not readable JSON, or "
          "the Content-Length header is not a number."},
    422: {"model": ValidationErrors, "description": "The JSON does not match the request "
          "schema, or the values cannot be used (`detail` names each problem and where)."},
}


# --------------------------------------------------------------------------- request models
class Spec:
    """What a request for this model must hold."""

    def __init__(self, bundle: ModelBundle, limits: ServiceLimits, impute: bool = False) -> None:
        pre = bundle.preprocessor
        self.names = list(bundle.feature_names)
        self.index = {n: i for i, n in enumerate(self.names)}
        self.text = getattr(pre, "text_", None) is not None
        self.sparse = bool(getattr(pre, "sparse_input_", False))
        self.imputes = getattr(pre, "fill_", None) is not None  # the model can fill NaN
        self.impute = impute  # ... and the server fills absent features (`--impute`)
        self.n_labels = len(bundle.label_names)
        self.max_items = limits.items_for(self.values_per_item)  # the work bound of a request

    @property
    def values_per_item(self) -> int:
        """What one item costs the model: its dense row (none for sparse input, where only
        the values sent are stored) and its row of label probabilities."""
        return (0 if self.sparse else len(self.names)) + self.n_labels

    @property
    def needs_all(self) -> bool:
        """Whether an item's {name: value} must hold every feature (else 422 naming them).

        A model trained on sparse input reads absent names as 0, so it never needs all."""
        return bool(self.names) and not self.sparse and not self.impute


def _features_type(spec: Spec) -> Any:
    n = len(spec.names)
    as_list = Annotated[list[Finite], Field(min_length=n, max_length=n)]
    named = n <= _NAMES_IN_SCHEMA
    extra: dict[str, Any] = {"propertyNames": {"enum": spec.names}} if named else {}
    if spec.needs_all:  # checked by the service, which names what is missing (422)
        extra.update({"minProperties": n, **({"required": spec.names} if named else {})})
    as_dict = Annotated[dict[str, Finite], Field(max_length=n, json_schema_extra=extra or None)]
    return Annotated[
        Union[Annotated[as_list, Tag("list")], Annotated[as_dict, Tag("dict")]],  # noqa: UP007
        Discriminator(_list_or_dict, custom_error_type="features_type",
                      custom_error_message=f"`features` must be a list of {n} numbers or an "
                                           "object {feature name: number}"),
    ]


def _list_or_dict(value: Any) -> str | None:
    if isinstance(value, list):
        return "list"
    return "dict" if isinstance(value, dict) else None


def _item_fields(spec: Spec) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if spec.names:
        absent = ("absent names count as 0" if spec.sparse else
                  "absent names are filled with the training value and listed in `imputed`"
                  if spec.impute else "every name is required; a 422 names any missing")
        fields["features"] = (_features_type(spec), Field(
            description=f"{len(spec.names)} numbers in training order, or {{name: number}} "
                        f"({absent})"))
    if spec.text:
        fields["text"] = (str, Field(max_length=MAX_TEXT_CHARS,
                                     description="The document (TF-IDF as at training)."))
    return fields


def _option_fields(spec: Spec) -> dict[str, Any]:
    return {
        "top_k": (WholeNumber, Field(None, ge=1, le=spec.n_labels, description=(
            "Predict the K most probable labels instead of the saved rule."))),
        "threshold": (float, Field(None, ge=0.0, le=1.0, allow_inf_nan=False, description=(
            "One threshold for every label instead of the saved rule."))),
        "proba": (bool, Field(False, description="Also return every label's probability.")),
    }


def request_type(spec: Spec) -> Any:
    """The body type of POST /predict for this model: one item, or {"items": [...]}."""
    item = create_model("Item", __config__=_STRICT, **_item_fields(spec))
    single = create_model("SingleRequest", __config__=_EITHER,
                          **_item_fields(spec), **_option_fields(spec))
    batch = create_model("BatchRequest", __config__=_EITHER, items=(
        list[item], Field(min_length=1, max_length=spec.max_items)), **_option_fields(spec))
    return Annotated[
        Union[Annotated[single, Tag("single")], Annotated[batch, Tag("batch")]],  # noqa: UP007
        Discriminator(_single_or_batch, custom_error_type="request_type",
                      custom_error_message="the body must be a JSON object: one item, or "
                                           "{\"items\": [...]} for a batch"),
    ]


def _single_or_batch(value: Any) -> str | None:
    if isinstance(value, dict):
        return "batch" if "items" in value else "single"
    return "batch" if isinstance(getattr(value, "items", None), list) else (
        "single" if isinstance(value, BaseModel) else None)
