"""DPO: whole-trajectory pairs get a completion mask that is 1 exactly on the trained assistant tokens (checked
token by token against ChatML pieces written out by hand), the collator lays batches out as TRL's does, a
2-step run on a tiny Qwen-shaped model moves LoRA weights and leaves the base alone, and the trainer's loss
equals the DPO formula worked by hand from the model's own log-probs (masked tokens only, adapter-disabled
reference), for `sigmoid` and `sigmoid_norm`."""

from __future__ import annotations

import json
import math

import pytest
import torch

from agentbench_tuning.config import load_config
from agentbench_tuning.training.dpo_data import PreferenceMaskCollator, encode_pair, pair_conversations

PROMPT = [
    {"role": "user", "content": "You are in a house. Answer with THOUGHT and ACTION lines."},
    {"role": "assistant", "content": "Ok."},
    {"role": "user", "content": "Here is your task. Your task is to: put a cool apple in fridge."},
]
CHOSEN = [
    {"role": "assistant", "content": "THOUGHT: the apple may be on the table.\nACTION: go to table 1", "loss": True},
    {"role": "user", "content": "On the table 1, you see a apple 1.", "loss": False},
    {"role": "assistant", "content": "ACTION: take apple 2 from table 1", "loss": False},  # env rejected it
    {"role": "user", "content": "Nothing happens.", "loss": False},
    {"role": "assistant", "content": "ACTION: take apple 1 from table 1", "loss": True},
]
REJECTED = [
    {"role": "assistant", "content": "ACTION: look", "loss": True},
    {"role": "user", "content": "You are in the middle of a room.", "loss": False},
    {"role": "assistant", "content": "ACTION: look", "loss": True},
]


def make_pairs(n: int) -> list[dict]:
    pairs = []
    for i in range(n):
        prompt = [*PROMPT[:2], {"role": "user", "content": PROMPT[2]["content"] + f" (game {i})"}]
        pairs.append({"prompt": prompt, "chosen": CHOSEN, "rejected": REJECTED})
    return pairs


@pytest.fixture(scope="module")
def tokenizer():
    from agentbench_tuning.models import load_tokenizer

    return load_tokenizer("tiny:qwen2.5")


def chatml_pieces(messages: list[dict], rendered: str) -> list[tuple[str, int]]:
    """(text, trained) pieces of a ChatML rendering: whatever the template writes before the first message
    (Qwen2.5's default system turn), then per message `<|im_start|>{role}\\n` (0), the content and
    `<|im_end|>` (1 for a trained assistant turn, else 0), and the `\\n` after it (0)."""
    head = rendered[: rendered.index("<|im_start|>" + messages[0]["role"])]
    pieces = [(head, 0)] if head else []
    for m in messages:
        trained = int(m["role"] == "assistant" and m.get("loss", True))
        pieces += [(f"<|im_start|>{m['role']}\n", 0), (m["content"], trained), ("<|im_end|>", trained), ("\n", 0)]
    return pieces


@pytest.mark.parametrize("side", ["chosen", "rejected"])
def test_trajectory_mask_token_by_token(tokenizer, side):
    pair = make_pairs(1)[0]
    enc = encode_pair(pair, tokenizer).row()
    messages = pair_conversations(pair)[side]
    rendered = tokenizer.apply_chat_template([{"role": m["role"], "content": m["content"]} for m in messages],
                                             tokenize=False)
    expected_ids, expected_mask = [], []
    for text, trained in chatml_pieces(messages, rendered):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        expected_ids += ids
        expected_mask += [trained] * len(ids)
    assert enc[f"{side}_input_ids"] == expected_ids
    assert enc[f"{side}_completion_mask"] == expected_mask
    # what stays in the log-ratio is exactly the trained actions and their end-of-turn tokens
    trained_text = tokenizer.decode([t for t, m in zip(expected_ids, expected_mask, strict=True) if m])
    wanted = [m["content"] + "<|im_end|>" for m in (CHOSEN if side == "chosen" else REJECTED) if m["loss"]]
    assert trained_text == "".join(wanted)
    assert "Nothing happens" not in trained_text and "Ok." not in trained_text


def test_step_pair_strings_and_collator_layout(tokenizer):
    pair = {"prompt": PROMPT, "chosen": "ACTION: go to fridge 1", "rejected": "ACTION: look"}
    row = encode_pair(pair, tokenizer).row()
    for side, text in (("chosen", "ACTION: go to fridge 1"), ("rejected", "ACTION: look")):
        ids, mask = row[f"{side}_input_ids"], row[f"{side}_completion_mask"]
        first = mask.index(1)
        assert all(mask[first:len(ids) - 1]) and mask[-1] == 0  # the final "\n" after <|im_end|> is not trained
        assert tokenizer.decode(ids[first:-1]) == text + "<|im_end|>"
    long_pair = encode_pair(make_pairs(1)[0], tokenizer).row()
    batch = PreferenceMaskCollator(pad_token_id=tokenizer.pad_token_id)([row, long_pair])
    width = max(len(row["chosen_input_ids"]), len(long_pair["chosen_input_ids"]), len(long_pair["rejected_input_ids"]))
    assert batch["input_ids"].shape == batch["completion_mask"].shape == (4, width)
    order = [row["chosen_input_ids"], long_pair["chosen_input_ids"], row["rejected_input_ids"],
             long_pair["rejected_input_ids"]]  # TRL's layout: every chosen row, then every rejected row
    masks = [row["chosen_completion_mask"], long_pair["chosen_completion_mask"], row["rejected_completion_mask"],
             long_pair["rejected_completion_mask"]]
    for i, (ids, mask) in enumerate(zip(order, masks, strict=True)):
        assert batch["input_ids"][i, : len(ids)].tolist() == ids
        assert batch["completion_mask"][i].tolist() == mask + [0] * (width - len(mask))
        assert batch["attention_mask"][i].tolist() == [1] * len(ids) + [0] * (width - len(ids))


def test_explore_reads_a_task_file_with_the_trained_prompt(tmp_path):
    from agentbench_tuning.config import ConfigError
    from agentbench_tuning.training.dpo_round import explore_configs

    tasks, prompt = tmp_path / "tasks.jsonl", tmp_path / "prompt.txt"
    cfg = load_config(None, "dpo", ["explore.benchmark=dbbench", f"explore.data={tasks}", "explore.tasks=5",
                                    f"explore.prompt_file={prompt}", f"explore.out={tmp_path / 'round'}"])
    expert, explore = explore_configs(cfg)
    for run in (expert, explore):
        assert (run.eval.data, run.eval.limit, run.eval.prompt_file) == (str(tasks), 5, str(prompt))
    assert (expert.eval.agent, explore.eval.agent) == ("expert", "model")
    assert not (tmp_path / "round" / "tasks.jsonl").exists()  # no generated task file beside the user's
    with pytest.raises(ConfigError, match="explore.data is a DB Bench task file"):
        load_config(None, "dpo", [f"explore.data={tasks}"])  # the default benchmark is alfworld-sim


def test_explore_plays_the_configured_simulator_worlds(tmp_path):
    from agentbench_tuning.config import SimWorld
    from agentbench_tuning.training.dpo_round import explore_configs

    cfg = load_config(None, "dpo", ["explore.tasks=9", "explore.task_seed=4", "explore.world.distractors=2",
                                    "explore.world.min_receptacles=4", "explore.world.max_receptacles=6",
                                    "explore.world.hidden_prob=0.0", f"explore.out={tmp_path}"])
    for run in explore_configs(cfg):
        assert (run.eval.benchmark, run.eval.games, run.eval.game_seed, run.eval.world) == (
            "alfworld-sim", 9, 4, SimWorld.easy())


def test_shipped_dpo_configs_load():
    from pathlib import Path

    from agentbench_tuning.config import launch_command

    paths = sorted(Path("configs").glob("dpo_*.yaml"))
    assert paths
    for path in paths:
        load_config(path, "dpo")
        assert "abtune dpo" in launch_command(path)


# ------------------------------------------------------------------ training on a tiny model


def dpo_config(tmp_path, *extra):
    pairs_file = tmp_path / "pairs.jsonl"
    pairs_file.write_text("".join(json.dumps(p) + "\n" for p in make_pairs(8)))
    return load_config(None, "dpo", [
        "model.name_or_path=tiny:qwen2.5", f"pairs.train=[{pairs_file}]", "pairs.max_length=512",
        f"train.output_dir={tmp_path / 'run'}", "train.max_steps=2", "train.per_device_train_batch_size=2",
        "train.gradient_accumulation_steps=1", "train.learning_rate=2e-2", "train.warmup_ratio=0.0",
        "train.precision=fp32", "train.gradient_checkpointing=false", "train.logging_steps=1", "train.save_steps=2",
        "lora.r=8", "lora.dropout=0.0", *extra,
    ])


def snapshot(model, lora: bool) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if ("lora_" in n) == lora}


def masked_logps(model, batch) -> torch.Tensor:
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1].float()
    token_logps = torch.log_softmax(logits, -1).gather(-1, batch["input_ids"][:, 1:, None])[..., 0]
    return (token_logps * batch["completion_mask"][:, 1:]).sum(-1)


def dpo_loss_by_hand(model, batch, beta: float, normalise: bool, sft_weight: float = 0.0) -> float:
    with torch.no_grad():
        policy = masked_logps(model, batch)
        with model.disable_adapter():
            reference = masked_logps(model, batch)
    ratios = policy - reference
    if normalise:
        ratios = ratios / batch["completion_mask"].sum(-1)
    chosen, rejected = ratios.chunk(2)
    loss = float(-torch.nn.functional.logsigmoid(beta * (chosen - rejected)).mean())
    if sft_weight:  # the chosen rows' mean NLL per trained token (observation tokens excluded)
        half = batch["completion_mask"].size(0) // 2
        chosen_mask = batch["completion_mask"][:half, 1:]
        with torch.no_grad():
            chosen_nll = -masked_logps(model, {k: v[:half] for k, v in batch.items()}).sum() / chosen_mask.sum()
        loss += sft_weight * float(chosen_nll)
    return loss


@pytest.mark.slow
@pytest.mark.parametrize("loss_type,sft_weight", [("sigmoid", 0.0), ("sigmoid_norm", 0.0), ("sigmoid", 0.5)])
def test_two_dpo_steps_move_lora_only_and_loss_matches_hand(tmp_path, loss_type, sft_weight):
    from agentbench_tuning.training.dpo import build_dpo_trainer, train

    cfg = dpo_config(tmp_path, f"dpo.loss_type={loss_type}", "dpo.beta=0.5", f"dpo.sft_weight={sft_weight}")
    setup = build_dpo_trainer(cfg)
    model = setup.trainer.model
    before_lora, before_base = snapshot(model, True), snapshot(model, False)
    result = train(setup, cfg)
    assert result.global_step == 2
    if not sft_weight:  # a fresh adapter (B = 0) is the reference itself: the first loss is log 2 exactly
        assert result.curve("loss")[0] == pytest.approx(math.log(2), abs=1e-6)
    else:
        assert result.curve("loss")[0] > math.log(2) + 1.0  # plus half the random model's chosen-token NLL
    after_lora, after_base = snapshot(model, True), snapshot(model, False)
    moved = [n for n in before_lora if "lora_B" in n and not torch.equal(before_lora[n], after_lora[n])]
    assert len(moved) == len([n for n in before_lora if "lora_B" in n]) > 0
    assert all(torch.equal(before_base[n], after_base[n]) for n in before_base)
    assert (result.adapter_dir / "adapter_model.safetensors").is_file()
    # after training, policy != reference: the trainer's loss is the formula over the masked tokens only
    model.eval()
    batch = next(iter(setup.trainer.get_train_dataloader()))
    batch = {k: v.to(model.device) for k, v in batch.items()}
    with torch.no_grad():
        trl_loss = float(setup.trainer.compute_loss(model, batch))
    hand = dpo_loss_by_hand(model, batch, beta=0.5, normalise=loss_type == "sigmoid_norm", sft_weight=sft_weight)
    assert hand != pytest.approx(math.log(2), abs=1e-4)
    assert trl_loss == pytest.approx(hand, abs=1e-4)


def test_round_pairs_match_a_first_turn_failure_to_the_expert():
    """ALFWorld records keep the final transcript: the expert's task turn lost its action list, the failure's
    (ended on its first turn) still shows it. Paired by task index, with the failure's prompt."""
    from agentbench_tuning.training.dpo_round import round_pairs

    def record(run, success, tail, task_turn, status):
        head = [{"role": "user", "content": "Instruction."}, {"role": "assistant", "content": "Ok."},
                {"role": "user", "content": task_turn}]
        return {"index": 3, "seed": 0, "benchmark": "alfworld-sim", "type": "put", "run": run, "success": success,
                "status": status, "turns": len(tail), "messages": head + tail}

    expert = record("expert", True, [
        {"role": "assistant", "content": "ACTION: go to desk 1", "sampled": True},
        {"role": "user", "content": "On the desk 1, you see a pen 1."},
        {"role": "assistant", "content": "ACTION: take pen 1 from desk 1", "sampled": True}],
        "Your task is to: put a pen in drawer.", "completed")
    lost = record("explore", False, [{"role": "assistant", "content": "I think so.", "sampled": True}],
                  "Your task is to: put a pen in drawer. AVAILABLE ACTIONS: go to desk 1\nlook\n",
                  "agent invalid action")
    [pair] = round_pairs([expert], [lost], "trajectory")
    assert pair["prompt"][-1]["content"].endswith("AVAILABLE ACTIONS: go to desk 1\nlook\n")
    assert [m["content"] for m in pair["chosen"]] == [m["content"] for m in expert["messages"][3:]]
    assert [m["loss"] for m in pair["chosen"]] == [True, False, True]
    assert pair["rejected"] == [{"role": "assistant", "content": "I think so.", "loss": True}]
    [step] = round_pairs([expert], [lost], "step")
    assert step["chosen"][0]["content"] == "ACTION: go to desk 1" and step["rejected"][0]["content"] == "I think so."
    assert round_pairs([expert], [{**lost, "success": True}], "trajectory") == []


@pytest.mark.slow
def test_init_adapter_is_the_frozen_reference(tmp_path):
    """ETO: DPO from an existing adapter; TRL copies it into a frozen "ref" adapter, so the first loss is ln 2
    although the adapter is far from the base, and training moves "default" while "ref" stays the start."""
    from peft import get_peft_model

    from agentbench_tuning.models import load_policy
    from agentbench_tuning.training.dpo import build_dpo_trainer, train
    from agentbench_tuning.training.runtime import lora_config

    cfg = dpo_config(tmp_path)
    policy = load_policy("tiny:qwen2.5")
    start = get_peft_model(policy.model, lora_config(cfg.lora))
    torch.manual_seed(0)
    for name, param in start.named_parameters():
        if "lora_B" in name:
            param.data.normal_(0, 0.05)  # an adapter that changes the model, like a trained SFT adapter
    start.save_pretrained(tmp_path / "sft_adapter")
    cfg = dpo_config(tmp_path, f"dpo.init_adapter={tmp_path / 'sft_adapter'}", "train.max_steps=1")
    setup = build_dpo_trainer(cfg)
    model = setup.trainer.model
    assert set(model.peft_config) == {"default", "ref"}
    default = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_B.default" in n}
    ref = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_B.ref" in n}
    assert default and all(torch.equal(default[n], ref[n.replace(".default", ".ref")]) for n in default)
    result = train(setup, cfg)
    assert result.curve("loss")[0] == pytest.approx(math.log(2), abs=1e-6)
    after = dict(model.named_parameters())
    assert all(not torch.equal(default[n], after[n]) for n in default)
    assert all(torch.equal(ref[n], after[n]) for n in ref)


@pytest.mark.slow
def test_dpo_round_explores_pairs_and_trains(tmp_path):
    """One round on DB Bench training samples: the tiny random model fails every task, the expert wins each,
    every failure becomes a whole-trajectory pair, DPO trains one step from them."""
    from agentbench_tuning.eval.runner import evaluate
    from agentbench_tuning.training.dpo_round import dpo_round

    cfg = load_config("configs/dpo_debug.yaml", "dpo", [
        "explore.benchmark=dbbench", "explore.tasks=2", "explore.seeds=[0]", f"explore.out={tmp_path / 'round'}",
        "explore.max_new_tokens=8", "pairs.train=[]", f"train.output_dir={tmp_path / 'dpo'}", "train.max_steps=1"])
    result = dpo_round(cfg, evaluate)
    assert result.explore_success_rate == 0.0 and result.pairs == 2
    pairs = [json.loads(line) for line in result.pairs_file.read_text().splitlines()]
    assert all(p["level"] == "trajectory" and p["chosen"][0]["role"] == "assistant" for p in pairs)
    assert result.dpo.global_step == 1 and (result.dpo.adapter_dir / "adapter_model.safetensors").is_file()
    again = dpo_round(cfg, evaluate)  # every stage resumes: nothing is played or trained twice
    assert again.dpo.already_finished and again.pairs == 2


@pytest.mark.slow
def test_qlora_dpo_step_on_cpu(tmp_path):
    """The QLoRA presets' path: a 4-bit NF4 base (bitsandbytes runs it on CPU too), adapters trained, the
    quantized base untouched."""
    from agentbench_tuning.training.dpo import build_dpo_trainer, train

    cfg = dpo_config(tmp_path, "model.quantization=4bit", "train.max_steps=1")
    setup = build_dpo_trainer(cfg)
    model = setup.trainer.model
    lora = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_B" in n}
    base = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}
    assert any(p.dtype == torch.uint8 for p in base.values())  # packed 4-bit weights
    result = train(setup, cfg)
    assert result.global_step == 1
    after = dict(model.named_parameters())
    assert all(not torch.equal(lora[n], after[n]) for n in lora)
    assert all(torch.equal(base[n], after[n]) for n in base)


@pytest.mark.slow
def test_dpo_resumes_its_checkpoint_and_reports_a_finished_run(tmp_path):
    from agentbench_tuning.training.dpo import build_dpo_trainer, run_dpo, train

    first = run_dpo(dpo_config(tmp_path))
    assert first.global_step == 2 and (first.output_dir / "checkpoint-2").is_dir()
    assert run_dpo(dpo_config(tmp_path)).already_finished  # same plan: nothing trained again
    longer = dpo_config(tmp_path, "train.max_steps=3")
    setup = build_dpo_trainer(longer)
    assert setup.resume_from == str(first.output_dir / "checkpoint-2")
    result = train(setup, longer)
    assert result.global_step == 3 and result.resumed_from == setup.resume_from
    assert [e["step"] for e in result.log_history if "loss" in e] == [1, 2, 3]
