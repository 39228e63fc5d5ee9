"""`[tool.vglint]` in pyproject.toml, checked key by key, merged with command-line flags."""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vglint.findings import Severity
from vglint.rules import RULES_BY_CODE, check_selector

DEFAULT_EXCLUDE = (
    ".git", ".venv", "venv", "__pycache__", "build", "dist", ".tox", "node_modules", "site-packages",
)  # fmt: skip


class ConfigError(Exception):
    """A wrong key, type or value in configuration or flags; the CLI exits 2 with its message."""


@dataclass
class RuleSelection:
    """One layer of rule selection: a configuration file's, or the command line's.

    A layer with `select` replaces the rules of the layers before it; one without edits them.
    """

    select: list[str] | None = None
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.select is not None or bool(self.extend_select) or bool(self.ignore)


@dataclass
class Settings:
    """Everything one run needs to know; defaults are vglint's, then config, then flags."""

    #: Rule selection layers, applied in order on top of the rules enabled by default.
    selection: list[RuleSelection] = field(default_factory=list)
    exclude: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDE))
    extend_exclude: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    fail_on: Severity = Severity.WARNING
    rule_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    sequence_length: int | None = None
    config_file: Path | None = None
    #: `[tool.vglint.models."models/net.py:Net"]`: how the probe builds a model the code cannot show
    #: (`args`, `kwargs`, `input` shapes, `dtype`), by `FILE:NAME` relative to the config's folder.
    models: dict[str, ModelSpec] = field(default_factory=dict)
    probe_spatial_size: int = 32
    cache_dir: Path | None = None  # `cache-dir`, relative to the configuration's folder


@dataclass
class ModelSpec:
    """How to build and feed one model in probe mode, as the configuration gives it."""

    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    input: list[list[int]] | None = None
    dtype: str | list[str] | None = None


def _list_of_str(key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"'{key}' must be a list of strings")
    return value


def _selectors(key: str, value: Any) -> list[str]:
    try:
        return [check_selector(v) for v in _list_of_str(key, value)]
    except ValueError as error:
        raise ConfigError(f"'{key}': {error}") from None


def find_config(start: Path) -> Path | None:
    """The nearest pyproject.toml with a [tool.vglint] table, at or above `start`."""
    start = Path(os.path.abspath(start))  # not resolved: a symlinked file belongs to the project it is in
    directory = start if start.is_dir() else start.parent
    for candidate in (directory, *directory.parents):
        path = candidate / "pyproject.toml"
        if path.is_file():
            try:
                text = path.read_text(encoding="utf-8")
                data = tomllib.loads(text)
            except (OSError, UnicodeDecodeError):
                continue
            except tomllib.TOMLDecodeError as error:
                if "tool.vglint" in text:  # the user's configuration: never ignore it silently
                    raise ConfigError(f"invalid TOML in {path}: {error}") from None
                continue
            tool = data.get("tool", {})
            if isinstance(tool, dict) and "vglint" in tool:
                return path
    return None


def load_config(path: Path, settings: Settings) -> Settings:
    """Apply `[tool.vglint]` from `path` to `settings`; ConfigError names the offending key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"invalid TOML in {path}: {error}") from None
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"'tool' in {path} must be a table")
    table = tool.get("vglint", {}) if path.name == "pyproject.toml" else tool.get("vglint", data)
    if not isinstance(table, dict):
        raise ConfigError(f"[tool.vglint] in {path} must be a table")
    settings.config_file = path
    layer = RuleSelection()
    for key, value in table.items():
        name = f"tool.vglint.{key}"
        if key == "select":
            layer.select = _selectors(name, value)
        elif key == "extend-select":
            layer.extend_select = _selectors(name, value)
        elif key == "ignore":
            layer.ignore = _selectors(name, value)
        elif key == "exclude":
            settings.exclude = _list_of_str(name, value)
        elif key == "extend-exclude":
            settings.extend_exclude = _list_of_str(name, value)
        elif key == "per-file-ignores":
            if not isinstance(value, dict):
                raise ConfigError(f"'{name}' must be a table of glob = [codes]")
            settings.per_file_ignores = {glob: _selectors(f"{name}.{glob}", codes) for glob, codes in value.items()}
        elif key == "fail-on":
            if not isinstance(value, str):
                raise ConfigError(f"'{name}' must be a string: error, warning or info")
            try:
                settings.fail_on = Severity.parse(value)
            except ValueError as error:
                raise ConfigError(f"'{name}': {error}") from None
        elif key == "sequence-length":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"'{name}' must be a positive integer")
            settings.sequence_length = value
        elif key == "probe-spatial-size":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"'{name}' must be a positive integer")
            settings.probe_spatial_size = value
        elif key == "cache-dir":
            if not isinstance(value, str) or not value:
                raise ConfigError(f"'{name}' must be a folder name")
            settings.cache_dir = Path(os.path.abspath(path.parent / value))
        elif key == "models":
            if not isinstance(value, dict):
                raise ConfigError(f"'{name}' must be a table of \"FILE:NAME\" = {{ kwargs = ..., input = ... }}")
            settings.models = {target: parse_model_spec(f"{name}.{target!r}", spec) for target, spec in value.items()}
        elif key == "rules":
            if not isinstance(value, dict):
                raise ConfigError(f"'{name}' must be a table of [tool.vglint.rules.CODE] tables")
            settings.rule_options = parse_rule_options(value)
        else:
            raise ConfigError(f"unknown key '{name}' in {path}")
    if layer:
        settings.selection.append(layer)
    return settings


_DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "long", "bool")


def parse_model_spec(name: str, spec: Any) -> ModelSpec:
    """One `[tool.vglint.models."FILE:NAME"]` table, checked key by key. A key other than `args`,
    `kwargs`, `input` and `dtype` is a keyword argument of the constructor, as the issue-style
    `{ config = { factory = "transformers:BertConfig" } }` writes it; a misspelt key then fails the
    build with the constructor's own "unexpected keyword argument", shown as VG002."""
    if not isinstance(spec, dict):
        raise ConfigError(f"'{name}' must be a table with args, kwargs, input or dtype")
    parsed = ModelSpec()
    for key, value in spec.items():
        if key == "args" and isinstance(value, list):
            parsed.args = value
        elif key == "kwargs" and isinstance(value, dict):
            parsed.kwargs = {**value, **parsed.kwargs}
        elif key == "input" and isinstance(value, list) and value and all(
            isinstance(shape, list) and shape and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape)
            for shape in value
        ):
            parsed.input = value
        elif key == "dtype" and (value in _DTYPES or isinstance(value, list) and value and all(v in _DTYPES for v in value)):
            parsed.dtype = value  # one for every input, or a list: one per input
        elif key in ("args", "kwargs", "input", "dtype"):
            expected = {"args": "a list", "kwargs": "a table", "input": "a list of shapes, e.g. [[8, 3, 32, 32]]",
                        "dtype": "one of " + ", ".join(_DTYPES) + ", or a list of them, one per input"}[key]  # fmt: skip
            raise ConfigError(f"'{name}.{key}' must be {expected}")
        else:  # `"transformers:BertModel" = { config = { factory = "transformers:BertConfig" } }`
            parsed.kwargs[key] = value
    if overlap := sorted(set(spec.get("kwargs") or {}) & (set(spec) - {"args", "kwargs", "input", "dtype"})):
        raise ConfigError(f"'{name}.{overlap[0]}' is given twice: as a key and in kwargs")
    return parsed


def parse_rule_options(tables: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per-rule options, each checked against the option the rule declares."""
    parsed: dict[str, dict[str, Any]] = {}
    for code, options in tables.items():
        rule = RULES_BY_CODE.get(code.upper())
        if rule is None:
            raise ConfigError(f"unknown rule 'tool.vglint.rules.{code}'")
        if not isinstance(options, dict):
            raise ConfigError(f"'tool.vglint.rules.{code}' must be a table")
        declared = {option.name: option for option in rule.options}
        for key, value in options.items():
            option = declared.get(key)
            if option is None:
                known = ", ".join(declared) or "none"
                raise ConfigError(f"unknown option 'tool.vglint.rules.{code}.{key}' (options of {rule.code}: {known})")
            try:
                parsed.setdefault(rule.code, {})[key] = option.parse(value)
            except ValueError as error:
                raise ConfigError(f"'tool.vglint.rules.{code}.{key}': {error}") from None
    return parsed


def settings_text(settings: Settings, codes: list[str], shown_path: str | None = None) -> str:
    """`--show-settings`: the configuration a run resolves to, one `key: value` line each (lists
    comma-separated, tables indented below their key), in a fixed order. `codes` are the enabled
    rules; every option of an enabled rule is shown with the value in force."""
    values: list[tuple[str, Any]] = [
        ("config-file", shown_path or (settings.config_file.as_posix() if settings.config_file else "none")),
        ("select", ", ".join(codes) or "none"),
        ("fail-on", str(settings.fail_on)),
        ("exclude", ", ".join(settings.exclude) or "none"),
        ("extend-exclude", ", ".join(settings.extend_exclude) or "none"),
        ("per-file-ignores", {glob: ", ".join(c) for glob, c in sorted(settings.per_file_ignores.items())}),
        ("sequence-length", "none" if settings.sequence_length is None else settings.sequence_length),
        ("probe-spatial-size", settings.probe_spatial_size),
        ("rules", {f"{code}.{option.name}": json.dumps(settings.rule_options.get(code, {}).get(option.name, option.default))
                   for code in codes for option in RULES_BY_CODE[code].options}),  # fmt: skip
        ("models", {target: "" for target in sorted(settings.models)}),
    ]
    out = []
    for key, value in values:
        if not isinstance(value, dict):
            out.append(f"{key}: {value}")
            continue
        out.append(f"{key}:" + ("" if value else " none"))
        out += [f"  {name}" + (f" = {shown}" if shown else "") for name, shown in value.items()]
    return "".join(line + "\n" for line in out)
