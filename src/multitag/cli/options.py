"""The training options as CLI flags, derived from the one table (`multitag.options`).

    @with_train_options()
    def train(path: Path = ..., options: TrainOptions = TRAIN_OPTIONS) -> None: ...

adds one flag per option (its name, help, what it accepts and what 'auto' means come from the
table) and passes the parsed values to the command as one validated `TrainOptions`. A command
may take a subset of the options, with other defaults (`multitag demo`).
"""

from __future__ import annotations

import functools
import inspect
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import typer

from multitag.exceptions import ConfigError
from multitag.options import (
    AUTO,
    DEFAULTS,
    OPTIONS,
    TrainOptions,
    check_value,
    describe_accepted,
    flag_of,
)

TRAIN_OPTIONS: Any = None  # placeholder default of a command's `options` parameter


def with_train_options(names: Sequence[str] | None = None,
                       defaults: Mapping[str, Any] | None = None, *, overrides: bool = False
                       ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command the flags of option `names` (all by default) with `defaults` replacing
    the table's; it receives them as `options: TrainOptions`. With `overrides`, a flag left
    out is not set, and the command receives only the given values (checked) as a dict (for
    a command whose defaults come from elsewhere, like the demo's presets)."""
    chosen = list(names or OPTIONS)
    own_defaults = {**{n: DEFAULTS[n] for n in chosen}, **(defaults or {})}
    parameters = [_parameter(name, own_defaults[name], overrides) for name in chosen]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        own = inspect.signature(command, eval_str=True)
        kept = [p for p in own.parameters.values() if p.name != "options"]
        signature = own.replace(parameters=[*kept, *parameters])

        @functools.wraps(command)
        def wrapper(**values: Any) -> Any:
            given = {name: parse_flag(name, values.pop(_key(name))) for name in chosen}
            if overrides:
                given = {k: check_value(k, v) for k, v in given.items() if v is not None}
                return command(**values, options=given)
            return command(**values, options=TrainOptions(**given))

        wrapper.__signature__ = signature  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
        return wrapper

    return decorate


def _key(name: str) -> str:
    return f"option_{name}"


def _parameter(name: str, default: Any, unset: bool = False) -> inspect.Parameter:
    spec = OPTIONS[name]
    flag = flag_of(name)
    help_text = spec.help if spec.kind == "bool" else (
        f"{spec.help} Accepts {describe_accepted(name)}.")
    if unset:  # the command's own default applies when the flag is left out
        help_text += f" [default: {_show_default(default)}]"
        default = None
    if spec.auto:
        help_text += f" 'auto': {spec.auto}."
    if spec.none:
        help_text += f" 'none': {spec.none}."
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    if spec.kind == "bool":
        option = typer.Option(None if unset else bool(default), flag, help=help_text)
        return inspect.Parameter(_key(name), kind, default=option, annotation=bool)
    if spec.kind == "params":
        option = typer.Option(None, flag, help=help_text)
        return inspect.Parameter(_key(name), kind, default=option, annotation=list[str])
    option = typer.Option(_show_default(default), flag, help=help_text)
    return inspect.Parameter(_key(name), kind, default=option, annotation=str)


def _show_default(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "none"
    return str(value)


def parse_flag(name: str, text: Any) -> Any:
    """The value of option `name` from its flag's text (booleans and lists pass through)."""
    spec = OPTIONS[name]
    if spec.kind == "params":
        return _loss_params(text or [])
    if spec.kind == "bool" or text is None:
        return text
    word = str(text).strip()
    if word.lower() == AUTO and (spec.auto or spec.kind == "weights"):
        return AUTO
    if word.lower() == "none" and (spec.none or spec.kind == "ints"):
        return () if spec.kind == "ints" else None
    parse = _PARSERS.get(spec.kind, lambda w, n: w)
    return parse(word, name)


def _bad(name: str, text: str) -> ConfigError:
    return ConfigError(f"`{flag_of(name)}` must be {describe_accepted(name)}; got {text!r}")


def _int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError as err:
        raise _bad(name, text) from err


def _float(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError as err:
        raise _bad(name, text) from err
    if not math.isfinite(value):
        raise _bad(name, text)
    return value


def _ints(text: str, name: str) -> tuple[int, ...]:
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() for p in parts):
        raise _bad(name, text)
    return tuple(int(p) for p in parts)


def _weights(text: str, name: str) -> Any:
    if text.lower().endswith(".json"):
        return _weights_file(Path(text))
    try:
        return tuple(float(p) for p in text.split(","))
    except ValueError as err:
        raise _bad(name, text) from err


def _weights_file(path: Path) -> dict[str, float]:
    try:
        weights = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path}: `--pos-weight` needs a readable JSON file ({err})") from err
    if not isinstance(weights, dict):
        raise ConfigError(f"{path}: `--pos-weight` expects a JSON object mapping label names "
                          "to positive numbers")
    return weights


def _loss_params(items: list[str]) -> tuple[tuple[str, float], ...]:
    params = []
    for item in items:
        name, _, value = item.partition("=")
        try:
            params.append((name.strip(), float(value)))
        except ValueError as err:
            raise ConfigError(f"`--loss-param` must be NAME=NUMBER; got {item!r}") from err
    return tuple(params)


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "int": _int, "float": _float, "ints": _ints, "weights": _weights,
}
