"""The sections every run config is built from (model, lora, data, train, rollout with sampling and limits,
eval), the SFT and evaluation run configs, and the checks the training kinds share. Loaded by
`config.load_config`, which is also where every name here is imported from by the rest of the package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ConfigError(ValueError):
    """A config problem; the message names the file, line and key."""


@dataclass(frozen=True)
class ModelConfig:
    name_or_path: str = "Qwen/Qwen2.5-7B-Instruct"
    # A hub id or local folder; "tiny:qwen2.5" / "tiny:qwen3-2507" builds a random-weight model of the real
    # architecture (CPU demo, tests); "smollm2" / "gguf:<file>" open GGUF checkpoints (docs/models.md).
    family: str | None = None  # None: detected from the model's config
    dtype: str = "auto"  # auto | bfloat16 | float16 | float32
    attn_implementation: str = "sdpa"  # sdpa | eager | flash_attention_2 | kernels-community/...
    quantization: str | None = None  # None | "4bit" (QLoRA NF4)
    trust_remote_code: bool = False


@dataclass(frozen=True)
class LoraSettings:
    enabled: bool = True
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str | list[str] = "all-linear"
    use_rslora: bool = False


@dataclass(frozen=True)
class DataSettings:
    # Files (jsonl/json/parquet) or dataset ids; "gen:dbbench:N" / "gen:alfworld:N" generate N conversations.
    train: list[str] = field(default_factory=list)
    eval: list[str] = field(default_factory=list)
    eval_fraction: float = 0.05  # split off train when `eval` is empty (stratified by task)
    max_length: int = 8192  # users are evaluated at 8k context
    overlong: str = "drop"  # drop | truncate_turns  (never cuts inside a trained turn)
    seed: int = 0


@dataclass(frozen=True)
class TrainSettings:
    output_dir: str = "runs/sft"
    num_train_epochs: float = 2.0
    max_steps: int = -1
    per_device_train_batch_size: int = 1
    per_device_eval_batch_size: int = 1
    gradient_accumulation_steps: int = 16
    learning_rate: float = 1e-4
    lr_scheduler_type: str = "cosine"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    precision: str = "auto"  # auto | bf16 | fp16 | fp32   (auto: bf16 if supported, fp16 on T4, fp32 on CPU)
    gradient_checkpointing: bool = True
    packing: bool = False  # only with flash attention: keeps each example's attention and mask separate
    logging_steps: int = 10
    eval_steps: int = 100
    save_steps: int = 100
    save_total_limit: int = 3
    early_stopping_patience: int | None = None  # evaluations without improvement of eval_loss
    resume: str = "auto"  # auto (newest complete checkpoint in output_dir; a finished run is reported, not
    # retrained) | never | a checkpoint path
    seed: int = 42
    report_to: str = "none"  # none | wandb | wandb-offline | tensorboard | mlflow (local SQLite store by default)
    run_name: str | None = None
    optim: str = "adamw_torch"


@dataclass(frozen=True)
class Sampling:
    """Decoding settings. Defaults are the AgentBench v0.2 agent's: greedy, at most 512 new tokens.
    RL keeps top_p 1 and top_k off, so rollout logprobs are those of the full distribution."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 512
    top_k: int = 0  # 0 = off

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 = off), got {self.top_k}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass(frozen=True)
class Limits:
    max_context: int = 8192  # the served max_model_len users are evaluated at
    max_turns: int = 100  # a safety net; the environments enforce their harness's own round limits
    concurrency: int = 16  # episodes played at once (one generate call covers all of them)
    progress: bool = False


ENGINES = ("vllm", "transformers", "openai")


@dataclass(frozen=True)
class RolloutSettings:
    """How a model agent generates: engine, sampling and limits (evaluation and GRPO rollouts alike)."""

    engine: str = "vllm"  # vllm | transformers | openai
    adapter: str | None = None  # PEFT LoRA directory
    base_url: str | None = None  # for engine openai, e.g. http://127.0.0.1:8000
    tokenizer: str | None = None  # for engine openai: where to load a tokenizer for context checks
    dtype: str = "auto"  # auto = the checkpoint's own dtype (float32 stays float32), on every engine
    batch_size: int = 8  # transformers only; vLLM schedules its own batches
    sampling: Sampling = field(default_factory=Sampling)
    limits: Limits = field(default_factory=Limits)


BENCHMARK_NAMES = ("dbbench", "alfworld-sim", "alfworld-engine")


@dataclass(frozen=True)
class SimWorld:
    """How hard alfworld-sim's generated worlds are (`envs.alfworld.generator.WorldConfig` without the task type,
    which goes round-robin). The defaults are the generator's; `SimWorld.easy()` is the small-room setting the
    learning experiment trains and scores on (`eval.world`, `tasks.world`, `explore.world`)."""

    min_receptacles: int = 8
    max_receptacles: int = 20
    distractors: int = 10  # objects beyond the ones the goal needs
    hidden_prob: float = 0.4  # chance an object starts inside a closed receptacle

    def __post_init__(self) -> None:
        if not 4 <= self.min_receptacles <= self.max_receptacles:
            raise ValueError(f"need 4 <= min_receptacles <= max_receptacles, got "
                             f"{self.min_receptacles}..{self.max_receptacles}")
        if self.distractors < 0 or not 0.0 <= self.hidden_prob <= 1.0:
            raise ValueError(f"distractors must be >= 0 and hidden_prob within [0, 1], got {self.distractors} and "
                             f"{self.hidden_prob}")

    @classmethod
    def easy(cls) -> SimWorld:
        return cls(min_receptacles=4, max_receptacles=6, distractors=2, hidden_prob=0.0)


@dataclass(frozen=True)
class EvalSettings:
    """What to evaluate: a benchmark of the table in `envs.benchmarks`, its tasks, the agent and the seeds."""

    benchmark: str = "dbbench"  # dbbench | alfworld-sim | alfworld-engine
    agent: str = "model"  # model, or a scripted agent of the benchmark (oracle, replay, expert)
    seeds: list[int] = field(default_factory=lambda: [0])
    out: str = "runs/eval"
    overwrite: bool = False  # start over in `out` (the earlier files are moved aside, never deleted)
    # tasks
    data: str | None = None  # dbbench: v0.2-format JSONL
    limit: int | None = None  # only the first N tasks
    games: int = 60  # alfworld-sim: generated games
    game_seed: int = 0  # alfworld-sim: generation seed (training data uses other seeds)
    world: SimWorld = field(default_factory=SimWorld)  # alfworld-sim: room size, distractors, hidden objects
    game_dir: str | None = None  # alfworld-engine: every game.tw-pddl below this folder
    split: str | None = None  # alfworld-engine: an AgentBench split JSON ...
    data_root: str | None = None  # ... whose paths are relative to this folder
    # environment
    backend: str = "sqlite"  # dbbench: mysql (faithful) | sqlite
    db_url: str | None = None  # dbbench mysql: default = the managed server's
    compare: str = "v0.2"  # dbbench SELECT answer comparison: v0.2 | fc
    allow_broken_tables: bool = False  # dbbench: run samples whose table MySQL cannot create table-less, as v0.2
    prompt_file: str | None = None  # instruction/prompts from `abtune prompts import`
    responses: str | None = None  # replay agent: a replay JSONL or another run's records.jsonl


@dataclass(frozen=True)
class EvalRunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    rollout: RolloutSettings = field(default_factory=RolloutSettings)
    eval: EvalSettings = field(default_factory=EvalSettings)

    def validate(self) -> EvalRunConfig:
        r, e = self.rollout, self.eval
        check_choice("rollout.engine", r.engine, ENGINES)
        check_choice("rollout.dtype", r.dtype, ("auto", "bfloat16", "float16", "float32"))
        check_choice("eval.benchmark", e.benchmark, BENCHMARK_NAMES)
        check_choice("eval.backend", e.backend, ("sqlite", "mysql"))
        check_choice("eval.compare", e.compare, ("v0.2", "fc"))
        check_world("eval", e.benchmark, e.world)
        if r.engine == "openai" and not r.base_url:
            raise ConfigError("rollout.engine=openai needs rollout.base_url (--base-url), e.g. http://127.0.0.1:8000")
        if r.engine != "openai" and r.base_url:
            raise ConfigError(f"rollout.base_url (--base-url) is only used with engine openai, not {r.engine}")
        if r.engine == "openai" and r.adapter:
            raise ConfigError("an adapter cannot be applied to a served model; serve it with `vllm serve --lora-modules`")
        if not e.seeds:
            raise ConfigError("eval.seeds needs at least one seed, e.g. --seeds 0,1,2")
        if len(set(e.seeds)) != len(e.seeds):
            raise ConfigError(f"eval.seeds has a repeated seed: {e.seeds}")
        for key, value in (("eval.limit", e.limit), ("eval.games", e.games)):
            if value is not None and value < 1:
                raise ConfigError(f"{key}={value}: must be a positive count")
        if e.agent == "model" and not self.model.name_or_path:
            raise ConfigError("the model agent needs model.name_or_path (--model PATH_OR_ID)")
        if e.agent == "replay" and not e.responses:
            raise ConfigError("the replay agent needs eval.responses (--responses FILE.jsonl)")
        return self


@dataclass(frozen=True)
class SFTRunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    data: DataSettings = field(default_factory=DataSettings)
    train: TrainSettings = field(default_factory=TrainSettings)

    def validate(self) -> SFTRunConfig:
        """Cross-field rules. Returns self so calls chain."""
        m, lora, d, t = self.model, self.lora, self.data, self.train
        check_model_and_train(m, lora, t)
        check_choice("data.overlong", d.overlong, ("drop", "truncate_turns"))
        if m.quantization and not lora.enabled:
            raise ConfigError("model.quantization=4bit needs lora.enabled=true (QLoRA trains adapters only)")
        if t.packing and "flash" not in m.attn_implementation:
            raise ConfigError(
                "train.packing=true needs model.attn_implementation=flash_attention_2 (or a kernels flash "
                "implementation): with sdpa/eager, packed examples would attend to each other"
            )
        if not d.train:
            raise ConfigError("data.train is empty: list at least one file, dataset id or gen:... source")
        if not 0 <= d.eval_fraction < 1:
            raise ConfigError(f"data.eval_fraction must be in [0, 1), got {d.eval_fraction}")
        if t.early_stopping_patience is not None and not (d.eval or d.eval_fraction > 0):
            raise ConfigError(
                "train.early_stopping_patience needs evaluation data (data.eval or eval_fraction)"
            )
        return self


REPORT_TO = ("none", "wandb", "wandb-offline", "tensorboard", "mlflow")


def check_model_and_train(m: ModelConfig, lora: LoraSettings, t: TrainSettings, report_to: tuple = REPORT_TO) -> None:
    """The rules every training kind shares: model dtype and quantization, precision, tracker, LoRA shape."""
    check_choice("model.dtype", m.dtype, ("auto", "bfloat16", "float16", "float32"))
    check_choice("model.quantization", m.quantization, (None, "4bit"))
    check_choice("train.precision", t.precision, ("auto", "bf16", "fp16", "fp32"))
    check_choice("train.report_to", t.report_to, report_to)
    if lora.r <= 0 or lora.alpha <= 0:
        raise ConfigError(f"lora.r and lora.alpha must be positive, got r={lora.r} alpha={lora.alpha}")


def check_world(section: str, benchmark: str, world: SimWorld) -> None:
    if world != SimWorld() and benchmark != "alfworld-sim":
        raise ConfigError(f"{section}.world sets how alfworld-sim generates its worlds; {section}.benchmark is "
                          f"{benchmark}: remove {section}.world")


def check_choice(key: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not one of {', '.join(map(str, allowed))}")


# ----------------------------------------------------------------------------- YAML with line numbers
