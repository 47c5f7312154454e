"""Run configuration: small frozen dataclasses per concern (`config_base`: the sections, SFT and evaluation runs;
`rl_config`: GRPO, SQL-GRPO, DPO), loaded here from YAML with `key=value` overrides. Every config name is
importable from this module.

One loader for every kind of run: `load_config(path_or_dict, kind, overrides)` with `kind` one of `KINDS`
("sft", "eval"; "grpo", "dpo", "sql_grpo" from `rl_config`; sweeps pass their class). Sections: model, lora, data, train, rollout (engine,
sampling, limits) and eval. Every YAML under configs/ starts with the command that launches it. Unknown keys
and wrong types fail with the file, line and key; `validate()` checks the rules that span fields. Derived
values (precision on this machine, the family of a model) are computed by functions, never written back.

    cfg = load_config("configs/debug.yaml", "sft", ["train.max_steps=5", "lora.r=8"])
    cfg = load_config({"model": {"name_or_path": "tiny:qwen2.5"}, "eval": {"benchmark": "dbbench"}}, "eval")
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from agentbench_tuning.config_base import (  # noqa: F401 - re-exported: the package imports sections from here
    BENCHMARK_NAMES,
    ENGINES,
    REPORT_TO,
    ConfigError,
    DataSettings,
    EvalRunConfig,
    EvalSettings,
    Limits,
    LoraSettings,
    ModelConfig,
    RolloutSettings,
    Sampling,
    SFTRunConfig,
    SimWorld,
    TrainSettings,
    check_choice,
    check_model_and_train,
)
from agentbench_tuning.rl_config import (  # noqa: F401 - re-exported
    DPORunConfig,
    DPOSettings,
    ExploreSettings,
    GRPORunConfig,
    GRPOSettings,
    GRPOTaskSettings,
    PairSettings,
    SQLGRPORunConfig,
    SQLGRPOSettings,
    SQLTaskSettings,
)


def _load_yaml_with_lines(path: Path) -> tuple[dict, dict[str, int]]:
    """The YAML mapping plus {dotted.key: line number} for every key."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (is it binary?); a config is YAML text") from None
    try:
        node = yaml.compose(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML: {err}") from None
    if node is None:
        return {}, {}
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{path}:{node.start_mark.line + 1}: the top level must be a mapping of sections")
    lines: dict[str, int] = {}

    def walk(mapping: yaml.MappingNode, prefix: str) -> None:
        for key_node, value_node in mapping.value:
            dotted = f"{prefix}{key_node.value}"
            lines[dotted] = key_node.start_mark.line + 1
            if isinstance(value_node, yaml.MappingNode):
                walk(value_node, dotted + ".")

    walk(node, "")
    return yaml.safe_load(text) or {}, lines


def _check_type(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_check_type(value, arg) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin is list:
        return isinstance(value, list)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


def _coerce_float(value: Any, annotation: Any) -> Any:
    """PyYAML reads `3e-4` (no dot) as a string (YAML 1.1); a float field takes it as the number meant."""
    wants_float = annotation is float or float in typing.get_args(annotation)
    if wants_float and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _build(cls, values: dict, where: str, prefix: str, lines: dict[str, int]):
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        loc = f"{where}:{lines[dotted]}" if dotted in lines else where
        if key not in names:
            raise ConfigError(f"{loc}: unknown key '{dotted}'; valid keys here: {', '.join(sorted(names))}")
        hint = hints[key]
        value = _coerce_float(value, hint)
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"{loc}: '{dotted}' must be a mapping")
            kwargs[key] = _build(hint, value, where, dotted + ".", lines)
        elif not _check_type(value, hint):
            raise ConfigError(f"{loc}: '{dotted}' = {value!r} has the wrong type; expected {hint}")
        else:
            kwargs[key] = value
    try:
        return cls(**kwargs)
    except ValueError as err:  # a dataclass's own range check (e.g. Sampling)
        section = prefix.rstrip(".") or cls.__name__
        raise ConfigError(f"{where}: {section}: {err}") from None


def _sections_with(key: str, cls) -> list[str]:
    hints = typing.get_type_hints(cls)
    return [name for name, hint in hints.items()
            if dataclasses.is_dataclass(hint) and key in {f.name for f in dataclasses.fields(hint)}]


def _apply_override(tree: dict, override: str, cls) -> None:
    """Apply `section.key=value` (or a bare `key=value` when only one section has that key)."""
    if "=" not in override:
        raise ConfigError(f"override {override!r} must look like key=value (e.g. train.max_steps=20)")
    key, raw = override.split("=", 1)
    top_level = {name for name, hint in typing.get_type_hints(cls).items() if not dataclasses.is_dataclass(hint)}
    if "." not in key and key not in top_level:  # a top-level field (e.g. a sweep's `out`) is set as it is
        sections = _sections_with(key, cls)
        if len(sections) != 1:
            raise ConfigError(
                f"override key {key!r} is unknown or ambiguous; use section.key (e.g. train.{key})"
            )
        key = f"{sections[0]}.{key}"
    node = tree
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {override!r}: {part!r} is not a section")
    node[parts[-1]] = yaml.safe_load(raw) if raw else None


KINDS = ("sft", "eval", "grpo", "dpo", "sql_grpo")


def config_class(kind: str) -> type:
    """The run-config dataclass of a kind (the sections in `config_base`, the RL runs in `rl_config`)."""
    classes = {"sft": SFTRunConfig, "eval": EvalRunConfig, "grpo": GRPORunConfig, "dpo": DPORunConfig,
               "sql_grpo": SQLGRPORunConfig}
    if kind not in classes:
        raise ConfigError(f"unknown config kind {kind!r}; choose one of {', '.join(KINDS)}")
    return classes[kind]


def load_config(source: str | Path | dict | None, kind: str | type, overrides: list[str] | tuple[str, ...] = ()):
    """Load a run config of `kind` (a name of `KINDS`, or a run-config dataclass with `validate()` defined next
    to its method, e.g. `experiments.settings.SweepRunConfig`) from a YAML file or a dict, apply `key=value`
    overrides, type-check and validate it. Errors name the file, line and key (for a dict: the dotted key)."""
    cls = kind if isinstance(kind, type) else config_class(kind)
    if isinstance(source, dict):
        values, lines, where = copy.deepcopy(source), {}, "<dict>"
    elif source is None:
        values, lines, where = {}, {}, "<defaults>"
    else:
        path = Path(source)
        if path.is_dir():
            raise ConfigError(f"{path}: is a directory; --config takes a YAML file")
        if not path.is_file():  # a shipped preset (configs/NAME.yaml) also works outside the checkout, e.g. Colab
            from agentbench_tuning.presets import resolve_config

            try:
                path = resolve_config(path)
            except FileNotFoundError as err:
                raise ConfigError(str(err)) from None
        values, lines = _load_yaml_with_lines(path)
        where = str(path)
    for override in overrides:
        _apply_override(values, override, cls)
    cfg = _build(cls, values, where, "", lines)
    try:
        return cfg.validate()
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None


def load_sft_config(path: str | Path | dict | None, overrides: list[str] | tuple[str, ...] = ()) -> SFTRunConfig:
    return load_config(path, "sft", overrides)


def config_to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def launch_command(path: str | Path) -> str:
    """The launch command on a config's first line (`# <command>`)."""
    first = Path(path).read_text(encoding="utf-8").splitlines()[0]
    if not first.startswith("# "):
        raise ConfigError(f"{path}:1: the first line must be '# <the command that launches this config>'")
    return first[2:].strip()
