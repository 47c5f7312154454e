"""Experiment configs: sweeps (`abtune sweep`) and ablations (`abtune ablate`), loaded with
`config.load_config(path, SweepRunConfig)` like every run config (file, line and key in errors).

A sweep or an ablation trains a `base` run config (an SFT YAML; `key=value` overrides per trial or variant),
then scores it with our harnesses on evaluation splits of *generated* tasks: `validation` drives the search,
`test` (disjoint from validation and from the training generator's seeds) decides the winner.

    cfg = load_config("configs/sweeps/debug.yaml", SweepRunConfig)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentbench_tuning.config import ConfigError

METHODS = ("sft",)  # the trainers an experiment can drive (GRPO and DPO plug in here)


@dataclass(frozen=True)
class SplitSettings:
    """Generated tasks to score a model on. ALFWorld: simulator games of `game_seed`; DB Bench: a file."""

    games: int = 12  # alfworld-sim
    game_seed: int = 1000  # alfworld-sim; training generators use data.seed + 1 (small numbers)
    data: str | None = None  # dbbench: v0.2-format JSONL (e.g. the held-out split of `abtune data dbbench-gen`)
    limit: int | None = None


@dataclass(frozen=True)
class EvaluationSettings:
    """How a trained model is scored: benchmarks, engine, decoding, and the two splits."""

    benchmarks: list[str] = field(default_factory=lambda: ["alfworld-sim"])
    engine: str = "transformers"  # vllm on a GPU
    temperature: float = 0.0
    max_new_tokens: int = 128
    max_context: int = 8192
    validation: SplitSettings = field(default_factory=SplitSettings)
    test: SplitSettings = field(default_factory=lambda: SplitSettings(game_seed=2000))


@dataclass(frozen=True)
class StudySettings:
    name: str = "sweep"
    n_trials: int = 20
    sampler: str = "tpe"  # tpe | nsga2 (multi-objective) | random
    seed: int = 0
    pruner: str = "median"  # median | none: prune on intermediate validation success
    prune_every: int = 0  # evaluate the adapter every N optimizer steps for pruning (0 = never)
    storage: str | None = None  # default: sqlite:///<out>/study.db (a killed sweep resumes from it)


@dataclass(frozen=True)
class FinalSettings:
    top_k: int = 3  # trials retrained on the test split before one is named the winner
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])


@dataclass(frozen=True)
class SweepRunConfig:
    base: str = "configs/debug.yaml"
    method: str = "sft"
    out: str = "runs/sweep"
    overrides: list[str] = field(default_factory=list)  # key=value applied to every trial (e.g. a short run)
    # objectives: "<benchmark>" (its headline score), "tokens:<benchmark>" (mean completion tokens per
    # episode) or "eval_loss"; one direction each
    objectives: list[str] = field(default_factory=lambda: ["alfworld-sim"])
    directions: list[str] = field(default_factory=lambda: ["maximize"])
    space: dict = field(default_factory=dict)  # "train.learning_rate": {type: float, low:, high:, log: true}
    study: StudySettings = field(default_factory=StudySettings)
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)
    final: FinalSettings = field(default_factory=FinalSettings)
    report_to: str = "none"  # none | mlflow: every trial and the winner as MLflow runs

    def validate(self) -> SweepRunConfig:
        _check_method(self.method)
        if len(self.objectives) != len(self.directions) or not self.objectives:
            raise ConfigError(f"objectives {self.objectives} and directions {self.directions} must pair up one to one")
        for direction in self.directions:
            if direction not in ("maximize", "minimize"):
                raise ConfigError(f"directions: {direction!r} is not maximize or minimize")
        for objective in self.objectives:
            name = objective.removeprefix("tokens:")
            if objective != "eval_loss" and name not in self.evaluation.benchmarks:
                raise ConfigError(f"objective {objective!r} needs {name!r} in evaluation.benchmarks "
                                  f"{self.evaluation.benchmarks}")
        if self.study.sampler not in ("tpe", "nsga2", "random"):
            raise ConfigError(f"study.sampler={self.study.sampler!r} is not one of tpe, nsga2, random")
        if self.study.sampler == "tpe" and len(self.objectives) > 1:
            raise ConfigError("several objectives need study.sampler=nsga2 (a Pareto front), not tpe")
        if not self.space:
            raise ConfigError("space is empty: name at least one config key to search, e.g. train.learning_rate")
        for key, spec in self.space.items():
            _check_param(key, spec)
        if self.final.top_k < 1 or len(self.final.seeds) < 1:
            raise ConfigError("final.top_k and final.seeds must be at least 1")
        _check_splits(self.evaluation)
        _check_report_to(self.report_to)
        return self


@dataclass(frozen=True)
class AblationRunConfig:
    base: str = "configs/debug.yaml"
    method: str = "sft"
    out: str = "runs/ablation"
    overrides: list[str] = field(default_factory=list)  # key=value applied to every variant, the base too
    variants: dict = field(default_factory=dict)  # name -> list of key=value overrides ("base" is implicit)
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)
    report_to: str = "none"

    def validate(self) -> AblationRunConfig:
        _check_method(self.method)
        if not self.variants:
            raise ConfigError("variants is empty: name at least one variant, e.g. {no_db: [data.train=[gen:alfworld:40]]}")
        for name, overrides in self.variants.items():
            if name == "base":
                raise ConfigError("variants: 'base' is the base config itself; give the variant another name")
            if not isinstance(overrides, list) or not all(isinstance(o, str) and "=" in o for o in overrides):
                raise ConfigError(f"variants.{name} must be a list of key=value overrides, got {overrides!r}")
        if len(self.seeds) < 2:
            raise ConfigError("an ablation needs at least 2 seeds for a spread (seeds: [0, 1, 2])")
        _check_splits(self.evaluation)
        _check_report_to(self.report_to)
        return self


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ConfigError(f"method={method!r}: experiments drive {', '.join(METHODS)}")


def _check_report_to(value: str) -> None:
    if value not in ("none", "mlflow"):
        raise ConfigError(f"report_to={value!r} is not none or mlflow")


def _check_param(key: str, spec) -> None:
    if not isinstance(spec, dict) or spec.get("type") not in ("float", "int", "categorical"):
        raise ConfigError(f"space.{key} must be {{type: float|int|categorical, ...}}, got {spec!r}")
    if spec["type"] == "categorical":
        if not isinstance(spec.get("choices"), list) or not spec["choices"]:
            raise ConfigError(f"space.{key}: a categorical parameter needs choices: [...]")
    elif not all(k in spec for k in ("low", "high")) or float(spec["low"]) >= float(spec["high"]):
        raise ConfigError(f"space.{key}: needs low < high, got {spec!r}")


def _check_splits(evaluation: EvaluationSettings) -> None:
    v, t = evaluation.validation, evaluation.test
    if "alfworld-sim" in evaluation.benchmarks and v.game_seed == t.game_seed:
        raise ConfigError(f"evaluation.validation.game_seed and test.game_seed are both {v.game_seed}: the splits "
                          "must be disjoint")
    if "dbbench" in evaluation.benchmarks:
        if not (v.data and t.data):
            raise ConfigError("dbbench needs evaluation.validation.data and evaluation.test.data (two files)")
        if v.data == t.data:
            raise ConfigError(f"evaluation.validation.data and test.data are the same file {v.data}: use two splits")
