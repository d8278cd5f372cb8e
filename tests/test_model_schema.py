"""model.json is data, never configuration for code: every field is checked against the closed
schema (bundle.schema) before anything is built.

The fuzz below walks every field of real saved models (dense network with per-label thresholds,
text, blended ensemble, linear), replaces each value in turn with one of a wrong type, one out
of range, adds unknown keys and removes keys, and asserts that `ModelBundle.load` either raises
one `ModelFileError` naming model.json and that field's JSON path, or (informational sections)
loads; never any other exception.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from multitag.bundle.directory import MODEL_JSON, ModelBundle
from multitag.bundle.jsonschema import path_text
from multitag.bundle.schema import (
    BASE_RULES,
    DECISION_RULE,
    INFORMATIONAL,
    MODEL,
    PREPROCESSING,
    TEXT,
    check_model_json,
)
from multitag.data.dataset import Dataset
from multitag.decision.rules import RULES
from multitag.exceptions import ModelFileError
from multitag.features.preprocessor import Preprocessor
from multitag.features.state import FIT_ONLY, LOADED, PARAMS
from multitag.options import TrainOptions
from multitag.pipeline.fit import train as train_model

WORDS = ["cat", "dog", "sun", "moon", "fish", "tree", "rain", "snow"]


def _numeric(rows: int = 120, features: int = 8) -> Dataset:
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(n_samples=rows, n_features=features, n_classes=4,
                                          random_state=3)
    return Dataset(X=X.astype(np.float32), Y=Y.astype(np.uint8),
                   feature_names=[f"f{i}" for i in range(features)],
                   label_names=["a", "b", "c", "d"], name="tiny")


def _text() -> Dataset:
    rng = np.random.default_rng(2)
    docs = [" ".join(rng.choice(WORDS, size=5)) for _ in range(80)]
    Y = np.array([[any(w in d.split() for w in WORDS[2 * j:2 * j + 2]) for j in range(4)]
                  for d in docs], dtype=np.uint8)
    return Dataset(X=np.zeros((80, 0), dtype=np.float32), Y=Y, feature_names=[],
                   label_names=["a", "b", "c", "d"], texts=docs, name="docs")


KINDS = {
    "dense": lambda: (_numeric(), TrainOptions(hidden=(8,), epochs=2, ensemble=1,
                                               decision="per_label")),
    "text": lambda: (_text(), TrainOptions(hidden=(8,), epochs=2, ensemble=1)),
    "blend": lambda: (_numeric(40, 30), TrainOptions(hidden=(4,), epochs=2, ensemble=2,
                                                     blend="linear")),
    "linear": lambda: (_numeric(), TrainOptions(model="br-lr", decision="global")),
}


@pytest.fixture(scope="module", params=sorted(KINDS))
def model(request, tmp_path_factory) -> tuple[Path, dict[str, Any]]:
    data, options = KINDS[request.param]()
    directory = train_model(data, options).bundle.save(
        tmp_path_factory.mktemp(request.param) / "model")
    return directory, json.loads((directory / MODEL_JSON).read_text())


def test_the_fixtures_cover_every_kind(model) -> None:
    directory, description = model
    arch = description["architecture"]
    kind = directory.parent.name.rstrip("0123456789")
    assert {"dense": description["decision_rule"]["rule"] == "per_label",
            "text": description["preprocessing"]["text"] is not None,
            "blend": arch.get("linear_member") is True and arch["members"] == 3,
            "linear": arch["model"] == "br-lr" and arch["hidden"] == []}[kind]
    ModelBundle.load(directory)


# -- the fuzz ----------------------------------------------------------------------------------
def _fields(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _fields(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _fields(item, (*path, i))


def _informational(path: tuple) -> bool:
    """Inside an informational section (the sections themselves must be an object/list)."""
    return len(path) > 1 and path[0] in INFORMATIONAL


def _wrong_type(value: Any) -> Any:
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return 1
    if isinstance(value, list):
        return {"x": 1}
    if isinstance(value, dict):
        return ["x"]
    return [1]  # null


def _out_of_range(value: Any, informational: bool) -> list[Any]:
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int | float):
        return [-1 if isinstance(value, int) else -1.0, 10**18, 1e300]
    if isinstance(value, str):
        return ["x" * 100_001]
    return [_deep(40)] if informational else []


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _set(description: dict[str, Any], path: tuple, value: Any) -> dict[str, Any]:
    edited = copy.deepcopy(description)
    target = edited
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return edited


def _load(directory: Path, description: dict[str, Any]) -> ModelBundle:
    (directory / MODEL_JSON).write_text(json.dumps(description))
    return ModelBundle.load(directory)


def _refused_at(directory: Path, description: dict[str, Any], path: tuple,
                exact: bool = True) -> str:
    """The error names model.json and `path` (or, not `exact`, a field inside it)."""
    with pytest.raises(ModelFileError) as caught:
        _load(directory, description)
    message = str(caught.value)
    named = f"{MODEL_JSON}: {path_text(path)}{': ' if exact else ''}"
    assert named in message, (path, message)
    assert "\n" not in message
    return message


def _sampled(description: dict[str, Any]) -> Iterator[tuple[tuple, Any]]:
    """Every field, except that informational sections are walked two levels deep and a text
    vocabulary's first three terms stand for the rest."""
    for path, value in _fields(description):
        if not path or (path[0] in INFORMATIONAL and len(path) > 3):
            continue
        if path[:3] == ("preprocessing", "text", "vocabulary") and len(path) == 4 and \
                list(description["preprocessing"]["text"]["vocabulary"]).index(path[3]) > 2:
            continue
        yield path, value


def test_every_field_with_a_wrong_type_or_out_of_range_is_refused_by_path(model) -> None:
    directory, description = model
    checked = 0
    try:
        for path, value in _sampled(description):
            info = _informational(path)
            for bad in [_wrong_type(value), *_out_of_range(value, info)]:
                edited = _set(description, path, bad)
                oversized = isinstance(bad, str) and len(bad) > 100_000
                if not info or oversized:
                    _refused_at(directory, edited, path)
                elif isinstance(bad, list) and bad == _deep(40):
                    with pytest.raises(ModelFileError, match="nests deeper than 16") as caught:
                        _load(directory, edited)
                    assert f"{MODEL_JSON}: {path_text(path)}" in str(caught.value)
                else:
                    _load(directory, edited)  # informational: any plain JSON loads
                checked += 1
    finally:
        (directory / MODEL_JSON).write_text(json.dumps(description))
    assert checked > 60


def test_unknown_and_missing_keys_are_refused_by_path(model) -> None:
    directory, description = model
    try:
        for path, value in _sampled(description):
            if not isinstance(value, dict) or (path and path[0] in INFORMATIONAL) or \
                    path == ("preprocessing", "text", "vocabulary"):
                continue
            _refused_at(directory, _set(description, (*path, "zz_unknown"), 1),
                        (*path, "zz_unknown"))
            for key in value:
                edited = _set(description, path, {k: v for k, v in value.items() if k != key})
                try:
                    _load(directory, edited)
                except ModelFileError as err:  # required, or needed by the rest: named
                    assert "\n" not in str(err)
        with pytest.raises(ModelFileError, match=r"model\.json: zz_top: unknown key"):
            _load(directory, {**description, "zz_top": 1})
        with pytest.raises(ModelFileError, match=r"model\.json: architecture\.n_labels: "
                           "missing"):
            _load(directory, _set(description, ("architecture",), {
                k: v for k, v in description["architecture"].items() if k != "n_labels"}))
    finally:
        (directory / MODEL_JSON).write_text(json.dumps(description))
    ModelBundle.load(directory)


def test_informational_sections_are_bounded_plain_json(model) -> None:
    directory, description = model
    try:
        for key in INFORMATIONAL:
            if key not in description:
                continue
            empty = {} if isinstance(description[key], dict) else []
            _refused_at(directory, {**description, key: "x"}, (key,))
            deep = _set(description, (key,), {"a": _deep(40)} if empty == {} else [_deep(40)])
            message = _refused_at(directory, deep, (key, "a" if empty == {} else 0, *([0] * 15)))
            assert "nests deeper than 16 levels" in message
            _refused_at(directory, {**description, key: {"s": "x" * 100_001} if empty == {}
                                    else ["x" * 100_001]}, (key, "s" if empty == {} else 0))
    finally:
        (directory / MODEL_JSON).write_text(json.dumps(description))


def test_the_json_itself_is_bounded(model, tmp_path) -> None:
    directory, description = model
    path = directory / MODEL_JSON
    try:
        for text, message in [
            ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
            (json.dumps(description)[:-1] + ', "history": [NaN]}', "NaN is not a JSON number"),
            (json.dumps(description)[:-1] + ', "format": "multitag-model"}',
             "key 'format' appears twice"),
            ('{"format": ' + "1" * 5000 + "}", "not valid JSON"),
            (json.dumps([description]), "must hold a JSON object"),
        ]:
            path.write_text(text)
            with pytest.raises(ModelFileError, match=message):
                ModelBundle.load(directory)
    finally:
        path.write_text(json.dumps(description))


# -- consistency -------------------------------------------------------------------------------
def test_a_wrong_threshold_count_is_refused_at_load_naming_the_field(model) -> None:
    directory, description = model
    rule = {"rule": "per_label", "params": {"objective": "micro_f1", "max_candidates": 10},
            "state": {"thresholds": [0.5] * 3, "global_threshold": 0.5, "fallback_labels": []}}
    try:
        message = _refused_at(directory, {**description, "decision_rule": rule},
                              ("decision_rule", "state", "thresholds"))
        assert "holds 3 thresholds; expected one per label (4" in message
        wrapped = {"rule": "at_least_one", "params": {"base": rule}, "state": {}}
        _refused_at(directory, {**description, "decision_rule": wrapped},
                    ("decision_rule", "params", "base", "state", "thresholds"))
        _refused_at(directory, _set(description, ("decision_rule",), {
            "rule": "top_k", "params": {"k": 5}, "state": {}}), ("decision_rule", "params", "k"))
        bad_fallback = {**rule, "state": {**rule["state"], "thresholds": [0.5] * 4,
                                          "fallback_labels": [4]}}
        _refused_at(directory, {**description, "decision_rule": bad_fallback},
                    ("decision_rule", "state", "fallback_labels", 0))
        _refused_at(directory, _set(description, ("decision_rule",), {
            "rule": "global", "state": {}}), ("decision_rule", "state", "threshold"))
        nested = {"rule": "at_least_one", "params": {"base": wrapped}, "state": {}}
        _refused_at(directory, {**description, "decision_rule": nested},
                    ("decision_rule", "params", "base", "rule"))
        for good in ({"rule": "top_k", "params": {"k": 4}, "state": {}},
                     {**rule, "state": {**rule["state"], "thresholds": [0.2] * 4}},
                     {"rule": "at_least_one", "params": {"base": {
                         "rule": "fixed", "params": {"threshold": 0.3}}}}):
            assert _load(directory, {**description, "decision_rule": good}).decision_rule
    finally:
        (directory / MODEL_JSON).write_text(json.dumps(description))


def test_sizes_must_agree(model) -> None:
    directory, description = model
    arch = description["architecture"]
    try:
        _refused_at(directory, _set(description, ("architecture", "n_features"),
                                    arch["n_features"] + 1), ("architecture", "n_features"))
        _refused_at(directory, _set(description, ("label_names",),
                                    description["label_names"][:-1]), ("label_names",))
        _refused_at(directory, _set(description, ("label_names", 1),
                                    description["label_names"][0]), ("label_names", 1))
        if description["feature_names"]:
            _refused_at(directory, _set(description, ("feature_names", 0), "other"),
                        ("feature_names", 0))
            _refused_at(directory, _set(description, ("feature_names",),
                                        description["feature_names"] + ["x"]),
                        ("feature_names",))
        _refused_at(directory, _set(description, ("preprocessing", "mode"), "tfidf"),
                    ("preprocessing", "mode"))
        with pytest.raises(ModelFileError, match=r"architecture\.members"):
            _load(directory, _set(description, ("architecture", "members"),
                                  arch.get("members", 1) + 1))
    finally:
        (directory / MODEL_JSON).write_text(json.dumps(description))


# -- the text vectoriser: an allow-list --------------------------------------------------------
@pytest.fixture(scope="module")
def text_model(tmp_path_factory) -> tuple[Path, dict[str, Any]]:
    data, options = KINDS["text"]()
    directory = train_model(data, options).bundle.save(tmp_path_factory.mktemp("t") / "m")
    return directory, json.loads((directory / MODEL_JSON).read_text())


@pytest.mark.parametrize(("field", "value"), [
    ("input", "filename"), ("input", "file"), ("token_pattern", "(a|aa)+$"),
    ("analyzer", "char"), ("analyzer", "builtins.open"), ("preprocessor", "os.system"),
    ("tokenizer", "subprocess.call"), ("stop_words", ["the"]), ("dtype", "object"),
    ("decode_error", "ignore"), ("encoding", "utf-7"),
])
def test_tfidf_attack_fields_are_refused_naming_the_field(text_model, field, value) -> None:
    directory, description = text_model
    path = ("preprocessing", "text", "params", field)
    try:
        message = _refused_at(directory, _set(description, path, value), path)
        assert "unknown key" in message
    finally:
        (directory / MODEL_JSON).write_text(json.dumps(description))
    # The features layer refuses it on its own too (Preprocessor.from_state called directly).
    state = _set(description["preprocessing"], ("text", "params", field), value)
    loaded = ModelBundle.load(directory)
    _, arrays = loaded.preprocessor.to_state()
    with pytest.raises(ModelFileError, match=rf"text\.params\.{field}: not an allowed"):
        Preprocessor.from_state(state, arrays)


@pytest.mark.parametrize("ngrams", [[1, 1000], [1, 4], [0, 1], [2, 1], [1], [1, 2, 3],
                                    [1.0, 2.0], [True, True]])
def test_ngram_range_is_bounded(text_model, ngrams) -> None:
    directory, description = text_model
    path = ("preprocessing", "text", "params", "ngram_range")
    try:
        _refused_at(directory, _set(description, path, ngrams), path, exact=False)
    finally:
        (directory / MODEL_JSON).write_text(json.dumps(description))
    state = _set(description["preprocessing"], path[1:], ngrams)
    _, arrays = ModelBundle.load(directory).preprocessor.to_state()
    with pytest.raises(ModelFileError, match="ngram_range"):
        Preprocessor.from_state(state, arrays)


def test_the_loaded_vectoriser_has_library_defaults_and_reads_content(text_model) -> None:
    directory, _ = text_model
    vectorizer = ModelBundle.load(directory).preprocessor.text_
    defaults = type(vectorizer)()
    assert vectorizer.input == "content" and vectorizer.analyzer == "word"
    assert vectorizer.token_pattern == defaults.token_pattern
    for name in ("preprocessor", "tokenizer", "stop_words", "strip_accents", "norm",
                 "use_idf", "smooth_idf", "binary", "decode_error", "encoding"):
        assert getattr(vectorizer, name) == getattr(defaults, name), name


def test_vocabulary_and_idf_must_agree(text_model) -> None:
    directory, description = text_model
    vocabulary = description["preprocessing"]["text"]["vocabulary"]
    first, second = list(vocabulary)[:2]
    path = ("preprocessing", "text", "vocabulary")
    try:
        _refused_at(directory, _set(description, (*path, second), vocabulary[first]),
                    (*path, second))  # two terms with one index
        _refused_at(directory, _set(description, (*path, ""), len(vocabulary)), (*path, ""))
    finally:
        (directory / MODEL_JSON).write_text(json.dumps(description))
    loaded = ModelBundle.load(directory)
    state, arrays = loaded.preprocessor.to_state()
    for idf in (arrays["text_idf"][:-1], -arrays["text_idf"], arrays["text_idf"] * np.inf):
        with pytest.raises(ModelFileError, match="text_idf"):
            Preprocessor.from_state(state, {**arrays, "text_idf": idf})


# -- the schema covers what the code builds ----------------------------------------------------
def test_the_schema_lists_every_parameter_the_builders_take() -> None:
    import inspect

    init = inspect.signature(Preprocessor.__init__).parameters
    params = PREPROCESSING.required["params"]
    assert set(params.required) | set(params.optional) == set(init) - {"self"} == set(PARAMS)
    text_params = TEXT.required["params"]
    assert set(text_params.required) == set(LOADED)
    assert set(text_params.optional) == set(FIT_ONLY)
    assert set(DECISION_RULE.variants) == set(RULES)
    for name, variant in BASE_RULES.items():
        assert set(variant.optional["params"].optional) == set(RULES[name].params), name
    assert set(MODEL.required) | set(MODEL.optional) >= set(INFORMATIONAL)


def test_save_checks_the_schema_too(tmp_path) -> None:
    data, options = KINDS["dense"]()
    bundle = train_model(data, options).bundle
    bundle.label_names = ["a", "b", "c", "x" * 10_001]
    with pytest.raises(ModelFileError, match=r"label_names\[3\]: must be a text of 0 to 10000"):
        bundle.save(tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_check_model_json_on_a_plain_description(model) -> None:
    _, description = model
    check_model_json(description, "x.json")
    with pytest.raises(ModelFileError, match=r"^x\.json: architecture\.foo: unknown key"):
        check_model_json(_set(description, ("architecture", "foo"), 1), "x.json")


def test_older_format_versions_still_load(model) -> None:
    """Format 1 (one network: no members, history or model name; rules without shrinkage) and
    format 2 (ensembles) directories load as before."""
    directory, description = model
    if description["architecture"].get("linear_member"):
        return  # format 3 only
    data = _numeric() if description["feature_names"] else None
    before = ModelBundle.load(directory)
    try:
        two = {**description, "format_version": 2}
        assert _load(directory, two).label_names == before.label_names
        if description["architecture"].get("members", 1) == 1:
            old = copy.deepcopy(description)
            old["format_version"] = 1
            for key in ("members", "model", "linear_skip"):
                old["architecture"].pop(key, None)
            for key in ("history", "member_histories"):
                old.pop(key, None)
            old["decision_rule"].get("params", {}).pop("shrinkage", None)
            loaded = _load(directory, old)
            if data is not None:
                np.testing.assert_allclose(loaded.predict_proba(data),
                                           before.predict_proba(data))
    finally:
        (directory / MODEL_JSON).write_text(json.dumps(description))
