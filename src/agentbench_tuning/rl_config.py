"""Run configurations of the RL methods (kinds "grpo", "dpo", "sql_grpo"), built from the sections of
`config_base` and loaded by the same `config.load_config` (which re-exports them): config_base holds the
sections and the SFT and evaluation runs, this module the three RL runs, config the loader.

    cfg = load_config("configs/grpo_debug.yaml", "grpo", ["train.max_steps=2"])
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentbench_tuning.config_base import (
    BENCHMARK_NAMES,
    REPORT_TO,
    ConfigError,
    LoraSettings,
    ModelConfig,
    RolloutSettings,
    Sampling,
    SimWorld,
    TrainSettings,
    check_choice,
    check_model_and_train,
    check_world,
)

# ----------------------------------------------------------------------------- DPO (kind "dpo")


@dataclass(frozen=True)
class PairSettings:
    """Where DPO pairs come from. Each source is a JSONL file of pairs (`abtune data pairs`), `runs:DIR,DIR`
    (records of evaluation runs, paired by `data.from_runs` at `level`) or `gen:alfworld-steps:N` (expert vs a
    wrong admissible command at every step of N generated games)."""

    train: list[str] = field(default_factory=list)
    eval: list[str] = field(default_factory=list)
    level: str = "trajectory"  # trajectory | step   (for runs:... sources)
    eval_fraction: float = 0.0  # split off train when `eval` is empty
    max_length: int = 8192  # prompt + completion tokens; longer pairs are dropped (counted in the report)
    seed: int = 0


@dataclass(frozen=True)
class DPOSettings:
    beta: float = 0.1
    loss_type: str = "sigmoid"  # sigmoid | sigmoid_norm (length-normalised log-ratios)
    # > 0 adds TRL's "sft" loss at this weight: the mean NLL of the chosen side's trained tokens (RPO; LLaMA-Factory's
    # pref_ftx). It keeps the chosen responses likely, the usual guard against DPO lowering both sides.
    sft_weight: float = 0.0
    # A LoRA adapter to start from (e.g. the SFT run's final/); the reference is then a frozen copy of it
    # (TRL's "ref" adapter). None: a fresh adapter, and the reference is the base with the adapter disabled.
    init_adapter: str | None = None
    precompute_ref_log_probs: bool = False


@dataclass(frozen=True)
class ExploreSettings:
    """One explore -> pair -> DPO round (`abtune dpo-round`): the policy plays generated training tasks with
    temperature > 0, the expert plays the same tasks, failures are paired with the expert's trajectories."""

    benchmark: str = "alfworld-sim"  # alfworld-sim | dbbench
    tasks: int = 32
    task_seed: int = 1  # generated training tasks; evaluation uses other seeds (alfworld-sim games seed 0)
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    out: str = "runs/dpo_round"
    level: str = "trajectory"  # trajectory | step
    engine: str = "transformers"  # transformers | vllm
    temperature: float = 0.7
    max_new_tokens: int = 512
    batch_size: int = 8  # transformers engine only
    # dbbench: a v0.2 task file to explore instead of `tasks` generated ones (e.g. training tables of your own
    # held-out split); both benchmarks: the prompt file the policy was trained with (`abtune prompts import`)
    data: str | None = None
    prompt_file: str | None = None
    world: SimWorld = field(default_factory=SimWorld)  # alfworld-sim: how hard the generated worlds are


@dataclass(frozen=True)
class DPORunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    pairs: PairSettings = field(default_factory=PairSettings)
    train: TrainSettings = field(default_factory=lambda: TrainSettings(output_dir="runs/dpo", learning_rate=5e-6))
    dpo: DPOSettings = field(default_factory=DPOSettings)
    explore: ExploreSettings = field(default_factory=ExploreSettings)

    def validate(self) -> DPORunConfig:
        m, lora, p, t, d, x = self.model, self.lora, self.pairs, self.train, self.dpo, self.explore
        check_model_and_train(m, lora, t)
        check_choice("pairs.level", p.level, ("trajectory", "step"))
        check_choice("dpo.loss_type", d.loss_type, ("sigmoid", "sigmoid_norm"))
        check_choice("explore.benchmark", x.benchmark, ("alfworld-sim", "dbbench"))
        check_choice("explore.level", x.level, ("trajectory", "step"))
        check_world("explore", x.benchmark, x.world)
        if not lora.enabled and (m.quantization or d.init_adapter):
            raise ConfigError("model.quantization and dpo.init_adapter need lora.enabled=true")
        if d.beta <= 0:
            raise ConfigError(f"dpo.beta must be positive, got {d.beta}")
        if d.sft_weight < 0:
            raise ConfigError(f"dpo.sft_weight must be >= 0 (0 = no SFT term), got {d.sft_weight}")
        if not 0 <= p.eval_fraction < 1:
            raise ConfigError(f"pairs.eval_fraction must be in [0, 1), got {p.eval_fraction}")
        if p.max_length < 16:
            raise ConfigError(f"pairs.max_length={p.max_length}: too short for any pair (8192 matches evaluation)")
        check_choice("explore.engine", x.engine, ("transformers", "vllm"))
        if x.temperature <= 0:
            raise ConfigError(f"explore.temperature={x.temperature}: must be > 0 (greedy exploration repeats itself)")
        if x.data and x.benchmark != "dbbench":
            raise ConfigError(f"explore.data is a DB Bench task file; explore.benchmark={x.benchmark} generates its games "
                              "(explore.tasks, explore.task_seed)")
        return self


# ----------------------------------------------------------------------------- single-turn SQL GRPO (kind "sql_grpo")


@dataclass(frozen=True)
class SQLTaskSettings:
    """Generated DB Bench training samples (held-out tables never used) and the backend that grades them."""

    n: int = 400
    seed: int = 0
    backend: str = "sqlite"  # sqlite | mysql (faithful; needs db_url or the managed server of `abtune db start`)
    db_url: str | None = None
    timeout_s: float = 2.0  # per statement; a slow or hostile query is cut off and scores as wrong
    types: list[str] = field(default_factory=list)  # only these sample types (empty: the generator's mix)


@dataclass(frozen=True)
class SQLGRPOSettings:
    num_generations: int = 8
    max_completion_length: int = 256
    temperature: float = 1.0
    beta: float = 0.0  # > 0: KL to the adapter-disabled base
    loss_type: str = "dapo"
    epsilon: float = 0.2
    correctness_weight: float = 1.0  # reward `dbbench_sql_correct`: -1 unparsable / 0 wrong / 1 right
    format_weight: float = 0.2  # reward `dbbench_format`: 1 when the v0.2 harness accepts the turn
    use_vllm: bool = False
    vllm_mode: str = "colocate"  # colocate | server
    vllm_gpu_memory_utilization: float = 0.3


@dataclass(frozen=True)
class SQLGRPORunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    data: SQLTaskSettings = field(default_factory=SQLTaskSettings)
    train: TrainSettings = field(default_factory=lambda: TrainSettings(output_dir="runs/sql_grpo", learning_rate=1e-5))
    grpo: SQLGRPOSettings = field(default_factory=SQLGRPOSettings)

    def validate(self) -> SQLGRPORunConfig:
        m, lora, d, t, g = self.model, self.lora, self.data, self.train, self.grpo
        check_model_and_train(m, lora, t)
        check_choice("data.backend", d.backend, ("sqlite", "mysql"))
        check_choice("grpo.loss_type", g.loss_type, ("dapo", "grpo", "dr_grpo", "bnpo"))
        check_choice("grpo.vllm_mode", g.vllm_mode, ("colocate", "server"))
        if m.quantization and not lora.enabled:
            raise ConfigError("model.quantization=4bit needs lora.enabled=true (QLoRA trains adapters only)")
        if g.num_generations < 2:
            raise ConfigError(f"grpo.num_generations={g.num_generations}: GRPO compares at least 2 completions")
        effective = t.per_device_train_batch_size * t.gradient_accumulation_steps
        if effective % g.num_generations:
            raise ConfigError(
                f"train.per_device_train_batch_size x gradient_accumulation_steps = {effective} must be a multiple "
                f"of grpo.num_generations={g.num_generations} (one group of completions per prompt)")
        if d.n < 1 or d.timeout_s <= 0:
            raise ConfigError(f"data.n and data.timeout_s must be positive, got n={d.n} timeout_s={d.timeout_s}")
        return self


@dataclass(frozen=True)
class GRPOSettings:
    """GRPO's own knobs (TRL's GRPOConfig names), rewards and the multi-turn choices. The sampling temperature is
    `rollout.sampling.temperature` (top_p 1, top_k off), passed to TRL as its `temperature` too."""

    num_generations: int = 8  # G episodes per task; a group plays one task from one initial state
    steps_per_generation: int | None = None  # None: TRL's default (= gradient_accumulation_steps)
    num_iterations: int = 1
    beta: float = 0.0  # KL to the adapter-disabled base; 0 = no reference forward
    epsilon: float = 0.2
    loss_type: str = "dapo"  # dapo only: per-turn rows are weighted in a token-sum loss (see training/grpo_trainer.py)
    scale_rewards: str = "group"  # group | batch | none
    rewards: list[str] | None = None  # None: the benchmark's table (success first, then shaping terms)
    reward_weights: list[float] | None = None  # None: 1.0 for success, shaping_weight for the others
    shaping_weight: float = 0.0  # shaping terms are always logged; a weight of 0 keeps them out of the reward
    invalid_action_penalty: float = 0.0  # > 0 adds `invalid_actions` (-fraction of rejected actions) at this weight
    truncated: str = "mask"  # mask | keep: episodes cut by the context or a token budget get no loss when "mask"
    turn_weighting: str = "episode"  # episode: each of an episode's T per-turn rows weighs 1/T | token: weight 1
    # Rows per forward/backward inside one micro-batch (None: the whole micro-batch at once). An ALFWorld episode
    # is one row per turn, so a micro-batch can hold dozens of long rows; chunking bounds the activation memory
    # (on CPU, SDPA keeps every layer's attention matrix for the backward) and gives the same gradient.
    rows_per_backward: int | None = None
    logprob_gap: bool = True  # log |rollout logprob - trainer logprob| over model tokens every step (one forward)
    adapter_keep: int = 2  # vllm engine: per-step adapter directories kept on disk
    vllm_kv_cache_gb: float | None = None  # vllm engine: KV cache size (None: 0.25 GB on CPU, 8 GB on a GPU)


@dataclass(frozen=True)
class GRPOTaskSettings:
    """Training tasks: the benchmark table's generated training tasks (`sft_tasks`), never the evaluation ones."""

    benchmark: str = "dbbench"  # dbbench | alfworld-sim | alfworld-engine
    count: int = 64  # generated training tasks
    seed: int = 1  # generation seed (evaluation sets use game_seed 0)
    env_seed: int = 0  # reset seed shared by a group's G episodes
    backend: str = "sqlite"  # dbbench: sqlite | mysql
    db_url: str | None = None
    prompt_file: str | None = None  # instruction/prompts from `abtune prompts import`
    # dbbench: a v0.2 task file (e.g. `abtune data dbbench-gen` training split) instead of `count` generated
    # tasks; the first `count` of its tasks are used. Never the evaluation file.
    data: str | None = None
    # Pass-rate filter, applied once before training (difficulty filtering as in DAPO/Polaris): `screen` is the
    # run directory of a sampled evaluation of the starting model on `data` (`abtune eval dbbench --data <data>
    # --temperature 0.8 --seeds 0,1,2,3 --out <screen>`); only tasks whose pass rate there lies in `pass_rate`
    # [low, high] (inclusive) are trained. A task every sample solves, or every sample fails, makes a group with
    # zero reward variance: no gradient, only rollout time.
    screen: str | None = None
    pass_rate: list[float] = field(default_factory=lambda: [0.0, 1.0])
    world: SimWorld = field(default_factory=SimWorld)  # alfworld-sim: how hard the generated worlds are


@dataclass(frozen=True)
class GRPORunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    train: TrainSettings = field(default_factory=lambda: TrainSettings(output_dir="runs/grpo"))
    rollout: RolloutSettings = field(
        default_factory=lambda: RolloutSettings(engine="transformers", sampling=Sampling(temperature=1.0)))
    grpo: GRPOSettings = field(default_factory=GRPOSettings)
    tasks: GRPOTaskSettings = field(default_factory=GRPOTaskSettings)

    def validate(self) -> GRPORunConfig:
        m, lora, t, r, g, k = self.model, self.lora, self.train, self.rollout, self.grpo, self.tasks
        check_model_and_train(m, lora, t, REPORT_TO[:-1])  # TRL's GRPO logging is not wired to mlflow here
        check_choice("rollout.engine", r.engine, ("vllm", "transformers"))
        check_choice("grpo.loss_type", g.loss_type, ("dapo",))
        check_choice("grpo.scale_rewards", g.scale_rewards, ("group", "batch", "none"))
        check_choice("grpo.truncated", g.truncated, ("mask", "keep"))
        check_choice("grpo.turn_weighting", g.turn_weighting, ("episode", "token"))
        check_choice("tasks.benchmark", k.benchmark, BENCHMARK_NAMES)
        check_choice("tasks.backend", k.backend, ("sqlite", "mysql"))
        check_world("tasks", k.benchmark, k.world)
        if not lora.enabled:
            raise ConfigError("lora.enabled=false: GRPO here trains LoRA adapters (the vLLM engine hot-swaps them)")
        s = r.sampling
        if s.temperature <= 0 or s.top_p != 1.0 or s.top_k != 0:
            raise ConfigError(
                f"rollout.sampling must sample the full distribution for RL: temperature > 0, top_p 1, top_k 0 "
                f"(got temperature={s.temperature}, top_p={s.top_p}, top_k={s.top_k}); truncated sampling biases "
                "the logprobs the loss compares against")
        if g.num_generations < 2:
            raise ConfigError(f"grpo.num_generations={g.num_generations}: a group needs at least 2 episodes")
        if g.rows_per_backward is not None and g.rows_per_backward < 1:
            raise ConfigError(f"grpo.rows_per_backward={g.rows_per_backward}: give a positive row count, or leave it "
                              "unset to back-propagate each micro-batch at once")
        if r.adapter:
            raise ConfigError("rollout.adapter is set by GRPO itself each step; start from an SFT adapter with "
                              "model.name_or_path=<merged model> or leave it empty")
        names = g.rewards
        if names is not None and not names:
            raise ConfigError("grpo.rewards is empty; leave it unset for the benchmark's rewards")
        if g.reward_weights is not None and names is not None and len(g.reward_weights) != len(names):
            raise ConfigError(f"grpo.reward_weights has {len(g.reward_weights)} weights for {len(names)} rewards "
                              f"({', '.join(names)}); give one weight per reward")
        if k.count < 1:
            raise ConfigError(f"tasks.count={k.count}: must be a positive count")
        if k.data and k.benchmark != "dbbench":
            raise ConfigError(f"tasks.data is a DB Bench task file; tasks.benchmark={k.benchmark} generates its "
                              "training games (tasks.count, tasks.seed)")
        if k.screen and not k.data:
            raise ConfigError("tasks.screen filters the tasks of tasks.data (a screening evaluation ran on that file); "
                              "set tasks.data to the file the screen evaluated")
        if len(k.pass_rate) != 2 or not 0.0 <= k.pass_rate[0] <= k.pass_rate[1] <= 1.0:
            raise ConfigError(f"tasks.pass_rate={k.pass_rate}: give [low, high] with 0 <= low <= high <= 1, e.g. "
                              "[0.25, 0.75] to keep tasks that 1-3 of 4 screening samples solved")
        if g.invalid_action_penalty < 0:
            raise ConfigError(f"grpo.invalid_action_penalty={g.invalid_action_penalty}: a penalty is given as a "
                              "positive weight (it scales a negative reward)")
        return self


