"""The closed schema of `model.json`, written as data: every field a model directory may hold,
its type, range and size, in one place (the node types are in `bundle.jsonschema`).

`model.json` is data, never configuration for code: `check_model_json` walks the whole file
against `MODEL` (unknown keys, wrong types, out-of-range values and oversized lists are refused,
naming the JSON path), then checks that the parts agree with one another (`check_agreement`:
label, feature and threshold counts, the vocabulary's indices), all before anything is built.
`training`, `metrics`, `history` and `member_histories` are informational: plain JSON of
bounded depth and size, shown to people, never given to a constructor.
"""

from __future__ import annotations

from typing import Any

from multitag.bundle.jsonschema import (
    Either,
    Fields,
    Flag,
    Items,
    JsonPath,
    Mapping,
    Null,
    Number,
    OneOf,
    Plain,
    Tagged,
    Text,
    Whole,
    check,
    fail,
)
from multitag.exceptions import ModelFileError
from multitag.features.state import (
    IMPUTES,
    MAX_NGRAM,
    MAX_TERM_CHARS,
    MAX_VOCABULARY,
    SCALES,
    STATE_FORMAT,
    STATE_VERSION,
    short,
)
from multitag.options import LINEAR_MODELS, OBJECTIVES

FORMAT_NAME = "multitag-model"
FORMAT_VERSION = 3
# Versions this multitag reads: 1 = one network; 2 adds ensembles ("members" in architecture);
# 3 adds per-label member weights (`network.weights`) and a linear last member
# (`architecture.linear_member`: a blend of networks and a linear model).
READABLE_VERSIONS = (1, 2, 3)

# -- bounds ------------------------------------------------------------------------------------
MAX_JSON_BYTES = 256 << 20      # model.json as a whole (parsing holds ~3.3x: under 1 GB)
MAX_NAME_CHARS = 10_000         # one label or feature name
MAX_LABELS = 10_000_000
MAX_FEATURES = 10_000_000       # named input columns (text adds its vocabulary)
MAX_LAYERS = 64
MAX_WIDTH = 1_000_000           # one hidden layer
MAX_MEMBERS = 1_000             # networks in an ensemble
MAX_CANDIDATES = 10_000_000     # thresholds tried when tuning
MAX_COUNT = 2**53               # document counts (text min_df/max_df)
MAX_NOTICES = 1_000
INFO_DEPTH = 16                 # informational sections: nesting, values, string length
INFO_NODES = 20_000_000
INFO_CHARS = 100_000

# -- the schema --------------------------------------------------------------------------------
NAME = Text(MAX_NAME_CHARS)
NGRAMS = Items(Whole(1, MAX_NGRAM), high=2, low=2)  # [min, max]; min <= max checked below
MIN_DF = Either((Whole(0, MAX_COUNT), Number(0.0, 1.0)))
MAX_DF = Either((Whole(1, MAX_COUNT), Number(0.0, 1.0, open_low=True)))
MAX_TERMS = Either((Null(), Whole(1, MAX_VOCABULARY)))

ARCHITECTURE = Fields(
    required={"n_features": Whole(1, MAX_FEATURES + MAX_VOCABULARY),
              "n_labels": Whole(1, MAX_LABELS),
              "hidden": Items(Whole(1, MAX_WIDTH), MAX_LAYERS)},
    optional={"type": OneOf(("mlp",)), "model": OneOf(("mlp", *LINEAR_MODELS)),
              "dropout": Number(0.0, 1.0, open_high=True), "linear_skip": Flag(),
              "members": Whole(1, MAX_MEMBERS), "linear_member": Flag()})

TEXT = Fields(required={
    # The TF-IDF vectoriser is rebuilt from these alone (features.text); min_df, max_df and
    # max_features only shaped the vocabulary when it was fitted.
    "vocabulary": Mapping(Text(MAX_TERM_CHARS, low=1), Whole(0, MAX_VOCABULARY - 1),
                          MAX_VOCABULARY, low=1),
    "params": Fields(required={"lowercase": Flag(), "ngram_range": NGRAMS,
                               "sublinear_tf": Flag()},
                     optional={"min_df": MIN_DF, "max_df": MAX_DF, "max_features": MAX_TERMS},
                     note=" (the vectoriser is rebuilt from these alone and always reads the "
                          "given text with the library's default analyzer and token pattern)"),
})

PREPROCESSING = Fields(
    required={
        "format": OneOf((STATE_FORMAT,)), "version": OneOf((STATE_VERSION,)),
        "params": Fields(
            required={"scale": OneOf(SCALES), "impute": OneOf(IMPUTES)},
            optional={"text_lowercase": Flag(), "text_ngram_range": NGRAMS,
                      "text_min_df": MIN_DF, "text_max_df": MAX_DF,
                      "text_max_features": MAX_TERMS, "text_sublinear_tf": Flag()}),
        "feature_names": Items(NAME, MAX_FEATURES),
        "sparse_input": Flag(),
        "mode": OneOf(tuple(s for s in SCALES if s != "auto")),
        "text": Either((Null(), TEXT)),
    },
    optional={"notices": Items(Text(MAX_NAME_CHARS), MAX_NOTICES)})

THRESHOLD = Number(0.0, 1.0)
TUNED = {"objective": OneOf(OBJECTIVES), "max_candidates": Whole(2, MAX_CANDIDATES)}
NO_STATE = Fields()


def _rule(name: str, params: dict[str, Any], state: Fields = NO_STATE) -> Fields:
    return Fields(required={"rule": OneOf((name,))},
                  optional={"params": Fields(optional=params), "state": state})


BASE_RULES = {
    "fixed": _rule("fixed", {"threshold": THRESHOLD}),
    "global": _rule("global", TUNED, Fields(optional={"threshold": THRESHOLD})),
    "per_label": _rule("per_label", {**TUNED, "shrinkage": Number(0.0, 1e9)}, Fields(optional={
        "thresholds": Items(THRESHOLD, MAX_LABELS),
        "global_threshold": THRESHOLD,
        "fallback_labels": Items(Whole(0, MAX_LABELS - 1), MAX_LABELS)})),
    "top_k": _rule("top_k", {"k": Whole(1, MAX_LABELS)}),
}
DECISION_RULE = Tagged("rule", {
    **BASE_RULES,
    "at_least_one": _rule("at_least_one", {"base": Tagged("rule", BASE_RULES)}),
})


def _info(top: str) -> Plain:
    return Plain(top, INFO_DEPTH, INFO_NODES, INFO_CHARS)


MODEL = Fields(
    required={
        "format": OneOf((FORMAT_NAME,)), "format_version": OneOf(READABLE_VERSIONS),
        "multitag_version": Text(64), "architecture": ARCHITECTURE,
        "preprocessing": PREPROCESSING, "label_names": Items(NAME, MAX_LABELS, low=1),
        "feature_names": Items(NAME, MAX_FEATURES), "decision_rule": DECISION_RULE,
        "training": _info("object"), "metrics": _info("object"),
    },
    optional={"history": _info("list"), "member_histories": _info("list")})
INFORMATIONAL = ("training", "metrics", "history", "member_histories")


# -- checking ----------------------------------------------------------------------------------
def check_model_json(description: Any, where: object) -> None:
    """Every field of `description` (model.json as read) against `MODEL`, then the parts'
    agreement; the first problem is one `ModelFileError` naming `where` and the JSON path."""
    if type(description) is not dict:
        raise ModelFileError(f"{where}: must hold a JSON object")
    check(description.get("format"), OneOf((FORMAT_NAME,)), where, ("format",))
    version = description.get("format_version")
    check(version, Whole(1, 2**31), where, ("format_version",))
    if version not in READABLE_VERSIONS:
        made_by = description.get("multitag_version")
        fail(where, ("format_version",),
             f"written in model format version {short(version)} (by multitag "
             f"{short(made_by)}); this multitag reads format versions "
             f"{', '.join(str(v) for v in READABLE_VERSIONS)}")
    check(description, MODEL, where)
    check_agreement(description, where)


def check_agreement(d: dict[str, Any], where: object) -> None:
    """The parts of a schema-checked model.json describe the same model."""
    arch, pre = d["architecture"], d["preprocessing"]
    n_labels = arch["n_labels"]
    if len(d["label_names"]) != n_labels:
        fail(where, ("label_names",), f"holds {len(d['label_names'])} names but "
             f"architecture.n_labels is {n_labels}; expected one name per label")
    _distinct(d["label_names"], where, ("label_names",))
    _same_names(d["feature_names"], pre["feature_names"], where)
    vocabulary = pre["text"]["vocabulary"] if pre["text"] is not None else {}
    produced = len(pre["feature_names"]) + len(vocabulary)
    if arch["n_features"] != produced:
        fail(where, ("architecture", "n_features"), f"is {arch['n_features']} but the "
             f"preprocessing produces {produced} features ({len(pre['feature_names'])} "
             f"columns + {len(vocabulary)} text terms)")
    if arch.get("linear_member") and arch.get("members", 1) < 2:
        fail(where, ("architecture", "linear_member"), "needs architecture.members >= 2")
    _check_preprocessing(pre, where)
    rule_fits(d["decision_rule"], n_labels, where, ("decision_rule",))


def rule_fits(rule: dict[str, Any], n_labels: int, where: object, path: JsonPath) -> None:
    """A schema-checked decision rule applies to `n_labels` labels: one threshold per label,
    fallback labels and k among them."""
    params, state = rule.get("params") or {}, rule.get("state") or {}
    tuned = {"global": "threshold", "per_label": "thresholds"}.get(rule["rule"])
    if tuned and tuned not in state:
        fail(where, (*path, "state", tuned), f"missing; a {rule['rule']!r} rule saved with a "
             "model holds its tuned state")
    if "thresholds" in state and len(state["thresholds"]) != n_labels:
        fail(where, (*path, "state", "thresholds"), f"holds {len(state['thresholds'])} "
             f"thresholds; expected one per label ({n_labels}, architecture.n_labels)")
    for i, label in enumerate(state.get("fallback_labels", [])):
        if label >= n_labels:
            fail(where, (*path, "state", "fallback_labels", i), f"is {label}; expected a "
                 f"label index below {n_labels} (architecture.n_labels)")
    if params.get("k", 1) > n_labels:
        fail(where, (*path, "params", "k"), f"is {params['k']}; expected at most the number "
             f"of labels ({n_labels})")
    if "base" in params:
        rule_fits(params["base"], n_labels, where, (*path, "params", "base"))


def _check_preprocessing(pre: dict[str, Any], where: object) -> None:
    from multitag.features.preprocessor import Preprocessor

    params = pre["params"]
    expected = Preprocessor(scale=params["scale"]).resolve_mode(pre["sparse_input"])
    if pre["mode"] != expected or (expected == "tfidf" and not pre["sparse_input"]):
        fail(where, ("preprocessing", "mode"), f"is {pre['mode']!r}; params.scale "
             f"{params['scale']!r} on {'sparse' if pre['sparse_input'] else 'dense'} input "
             f"gives {expected!r}{' (tfidf needs sparse input)' if expected == 'tfidf' else ''}")
    ranges = [(("preprocessing", "params", "text_ngram_range"), params.get("text_ngram_range"))]
    if pre["text"] is not None:
        ranges.append((("preprocessing", "text", "params", "ngram_range"),
                       pre["text"]["params"]["ngram_range"]))
        _vocabulary_indices(pre["text"]["vocabulary"], where)
    for path, pair in ranges:
        if pair is not None and pair[0] > pair[1]:
            fail(where, path, f"must be [min, max] with min <= max; got {pair}")


def _vocabulary_indices(vocabulary: dict[str, int], where: object) -> None:
    """The terms are numbered 0 .. n-1, each number once."""
    seen = bytearray(len(vocabulary))
    for term, index in vocabulary.items():
        if index >= len(seen) or seen[index]:
            fail(where, ("preprocessing", "text", "vocabulary", term), f"is {index}; the "
                 f"{len(seen)} terms must be numbered 0 to {len(seen) - 1}, each number once")
        seen[index] = 1


def _distinct(names: list[str], where: object, path: JsonPath) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            fail(where, (*path, i), f"repeats {short(name)}; expected distinct names")
        seen.add(name)


def _same_names(names: list[str], pre_names: list[str], where: object) -> None:
    if len(names) != len(pre_names):
        fail(where, ("feature_names",), f"holds {len(names)} names but "
             f"preprocessing.feature_names holds {len(pre_names)}; expected the same names")
    for i, (a, b) in enumerate(zip(names, pre_names)):
        if a != b:
            fail(where, ("feature_names", i), f"is {short(a)} but preprocessing."
                 f"feature_names[{i}] is {short(b)}; expected the same names")
