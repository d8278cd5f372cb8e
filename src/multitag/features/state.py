"""The saved form of a fitted `Preprocessor`, checked as untrusted data, and the TF-IDF text
vectoriser rebuilt from a short allow-list.

A model directory may come from anyone. `check_state` checks every key, type and range of a
saved preprocessor state (and its arrays' shapes) before anything is built. A saved text state
is `{"vocabulary": {term: index}, "params": {...}}` plus the `text_idf` array; loading never
hands the saved parameters to scikit-learn's `TfidfVectorizer`: it is rebuilt from
`lowercase`, `ngram_range` (at most `MAX_NGRAM` words), `sublinear_tf`, the vocabulary and the
idf weights alone, always reading the given strings (`input="content"`) with the library's
default analyzer and token pattern (linear-time). Any other parameter (`input`,
`token_pattern`, `analyzer`, `preprocessor`, ...) is refused naming the field; `min_df`,
`max_df` and `max_features` are checked and ignored (they only shaped the vocabulary when it
was fitted).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from multitag.exceptions import DataFormatError, ModelFileError

STATE_FORMAT = "multitag.preprocessor"
STATE_VERSION = 1
SCALES = ("auto", "standard", "maxabs", "tfidf", "none")
IMPUTES = ("median", "mean", "none")
MAX_NGRAM = 3
MAX_VOCABULARY = 10_000_000
MAX_TERM_CHARS = 10_000
# The text parameters a saved model may hold: only LOADED reach the vectoriser.
LOADED = ("lowercase", "ngram_range", "sublinear_tf")
FIT_ONLY = ("min_df", "max_df", "max_features")


def fit_text(texts: list[str], params: dict[str, Any]) -> Any:
    """A `TfidfVectorizer` fitted on `texts` with the preprocessor's text parameters."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(dtype=np.float32, **params)
    try:
        vectorizer.fit(texts)
    except ValueError as err:
        raise DataFormatError(f"cannot build TF-IDF features from the text: {err}") from err
    return vectorizer


def text_state(vectorizer: Any, params: dict[str, Any]) -> tuple[dict[str, Any], np.ndarray]:
    """The JSON state and the idf array of a fitted vectoriser."""
    vocabulary = {str(k): int(v) for k, v in vectorizer.vocabulary_.items()}
    return ({"vocabulary": vocabulary, "params": jsonable(params)},
            np.asarray(vectorizer.idf_, dtype=np.float64))


def jsonable(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as JSON holds them (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def load_text(state: Any, idf: np.ndarray | None, where: str = "text") -> Any:
    """The vectoriser a checked text state describes (`where`: its path, for messages)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    lowercase, ngram_range, sublinear_tf, vocabulary = check_text_state(state, idf, where)
    vectorizer = TfidfVectorizer(input="content", analyzer="word", lowercase=lowercase,
                                 ngram_range=ngram_range, sublinear_tf=sublinear_tf,
                                 vocabulary=vocabulary, dtype=np.float32)
    vectorizer.idf_ = np.asarray(idf, dtype=np.float64)
    return vectorizer


def check_text_state(state: Any, idf: np.ndarray | None,
                     where: str) -> tuple[bool, tuple[int, int], bool, dict[str, int]]:
    """The allowed parameters and the vocabulary of a saved text state, each checked."""
    if type(state) is not dict or set(state) != {"vocabulary", "params"}:
        raise ModelFileError(f"{where}: must be an object with the keys vocabulary, params")
    params = state["params"]
    if type(params) is not dict:
        raise ModelFileError(f"{where}.params: must be an object")
    for key in params:
        if key not in LOADED + FIT_ONLY:
            raise ModelFileError(
                f"{where}.params.{key}: not an allowed text parameter; a saved model may set "
                f"only {', '.join(LOADED + FIT_ONLY)} (the vectoriser always reads the given "
                "text with the default analyzer and token pattern)")
    for key in ("lowercase", "sublinear_tf"):
        if type(params.get(key)) is not bool:
            raise ModelFileError(f"{where}.params.{key}: must be true or false; got "
                                 f"{short(params.get(key))}")
    _check_fit_only(params, where)
    return (params["lowercase"], _ngram_range(params.get("ngram_range"), where),
            params["sublinear_tf"], _vocabulary(state["vocabulary"], idf, where))


def _check_fit_only(params: dict[str, Any], where: str) -> None:
    for key in FIT_ONLY:
        value = params.get(key)
        number = _finite(value) and value >= 0
        if key in params and not (number or (key == "max_features" and value is None)):
            raise ModelFileError(f"{where}.params.{key}: must be a number >= 0"
                                 f"{' or null' if key == 'max_features' else ''}; got "
                                 f"{short(value)}")


def _is_ngram_range(value: Any) -> bool:
    return (type(value) is list and len(value) == 2 and all(type(v) is int for v in value)
            and 1 <= value[0] <= value[1] <= MAX_NGRAM)


def _ngram_range(value: Any, where: str) -> tuple[int, int]:
    if not _is_ngram_range(value):
        raise ModelFileError(f"{where}.params.ngram_range: must be [min, max] with "
                             f"1 <= min <= max <= {MAX_NGRAM}; got {short(value)}")
    return value[0], value[1]


def _vocabulary(vocabulary: Any, idf: np.ndarray | None, where: str) -> dict[str, int]:
    """Terms (non-empty strings) numbered 0 .. n-1, each once; finite positive idf per term."""
    if type(vocabulary) is not dict or not 0 < len(vocabulary) <= MAX_VOCABULARY:
        raise ModelFileError(f"{where}.vocabulary: must be an object of 1 to {MAX_VOCABULARY} "
                             "terms")
    n = len(vocabulary)
    seen = bytearray(n)
    for term, index in vocabulary.items():
        if type(term) is not str or not 0 < len(term) <= MAX_TERM_CHARS or \
                type(index) is not int or \
                not 0 <= index < n or seen[index]:
            raise ModelFileError(f"{where}.vocabulary[{short(term)}]: the {n} terms must be "
                                 f"texts of 1 to {MAX_TERM_CHARS} characters numbered 0 to "
                                 f"{n - 1}, each number once; got {short(index)}")
        seen[index] = 1
    if idf is None or np.shape(idf) != (n,) or np.asarray(idf).dtype.kind != "f" or \
            not (np.isfinite(idf).all() and (np.asarray(idf) > 0).all()):
        raise ModelFileError(f"{where}: tensor 'preprocessor.text_idf' must hold {n} finite "
                             f"positive idf weights, one per vocabulary term; got shape "
                             f"{np.shape(idf) if idf is not None else 'none'}")
    return dict(vocabulary)


def short(value: Any) -> str:
    """A value as at most 60 characters of its repr (for messages)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- the preprocessor's state ------------------------------------------------------------------
# The saved `params` (the constructor's arguments), what each must be, and its default.
PARAMS: dict[str, tuple[str, Any, Any]] = {
    "scale": (f"one of {', '.join(SCALES)}", lambda v: v in SCALES, "auto"),
    "impute": (f"one of {', '.join(IMPUTES)}", lambda v: v in IMPUTES, "median"),
    "text_lowercase": ("true or false", lambda v: type(v) is bool, True),
    "text_sublinear_tf": ("true or false", lambda v: type(v) is bool, True),
    "text_ngram_range": (f"[min, max] with 1 <= min <= max <= {MAX_NGRAM}", _is_ngram_range,
                         [1, 1]),
    "text_min_df": ("a number >= 0", lambda v: _finite(v) and v >= 0, 1),
    "text_max_df": ("a number > 0", lambda v: _finite(v) and v > 0, 1.0),
    "text_max_features": ("null or an integer >= 1",
                          lambda v: v is None or (type(v) is int and v >= 1), None),
}
_KEYS = ("format", "version", "params", "feature_names", "sparse_input", "mode", "text",
         "notices")


def check_state(state: Any, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The constructor arguments of a saved state (defaults filled in), every field of the
    state checked; the arrays have the shapes its mode needs."""
    if type(state) is not dict or state.get("format") != STATE_FORMAT:
        raise ModelFileError(f"not a preprocessor state; expected format {STATE_FORMAT!r}")
    if type(state.get("version")) is not int or state["version"] != STATE_VERSION:
        raise ModelFileError(f"preprocessor state version {short(state.get('version'))}; "
                             f"expected {STATE_VERSION}")
    missing = [k for k in _KEYS[:-1] if k not in state]
    unknown = [k for k in state if k not in _KEYS]
    if missing or unknown:
        raise ModelFileError(f"preprocessor state: {(missing or unknown)[0]}: "
                             f"{'missing' if missing else 'unknown key'}; the keys are "
                             f"{', '.join(_KEYS)}")
    for key in ("feature_names", "notices"):
        value = state.get(key, [])
        if type(value) is not list or not all(type(n) is str for n in value):
            raise ModelFileError(f"preprocessor state: {key}: must be a list of strings")
    if type(state["sparse_input"]) is not bool or state["mode"] not in SCALES[1:]:
        raise ModelFileError("preprocessor state: sparse_input must be true or false and mode "
                             f"one of {', '.join(SCALES[1:])}")
    params = _params(state["params"])
    _check_arrays(state["mode"], params["impute"], arrays, len(state["feature_names"]))
    return params


def _params(params: Any) -> dict[str, Any]:
    if type(params) is not dict:
        raise ModelFileError("preprocessor state: params: must be an object")
    for key, value in params.items():
        if key not in PARAMS:
            raise ModelFileError(f"preprocessor state: params.{key}: unknown key; valid keys "
                                 f"are: {', '.join(PARAMS)}")
        must, ok, _ = PARAMS[key]
        if not ok(value):
            raise ModelFileError(f"preprocessor state: params.{key}: must be {must}; got "
                                 f"{short(value)}")
    return {key: params.get(key, default) for key, (_, _, default) in PARAMS.items()}


def _check_arrays(mode: str, impute: str, arrays: dict[str, np.ndarray], d: int) -> None:
    for key in ("fill", "center", "scale"):
        if key in arrays and np.shape(arrays[key]) != (d,):
            raise ModelFileError(f"preprocessor array {key!r} has shape "
                                 f"{np.shape(arrays[key])}; expected ({d},)")
    needed = [] if d == 0 else ["fill"] if impute != "none" else []
    if d:
        needed += {"standard": ["center", "scale"], "maxabs": ["scale"],
                   "tfidf": ["scale"]}.get(mode, [])
    missing = [k for k in needed if k not in arrays]
    if missing:
        raise ModelFileError(f"preprocessor array(s) {', '.join(map(repr, missing))} missing "
                             f"from the weights; mode {mode!r} needs them")


def _finite(value: object) -> bool:
    return type(value) is int or (type(value) is float and bool(np.isfinite(value)))
