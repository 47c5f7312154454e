"""Every shipped YAML loads and validates; bad configs fail with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentbench_tuning.config import ConfigError, launch_command, load_sft_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# RL configs are other kinds, loaded by their own tests (tests/training/test_dpo.py, test_sql_grpo.py, test_grpo.py).
OTHER_KINDS = ("dpo_", "sql_grpo_", "grpo_")
SFT_YAMLS = sorted(p for p in CONFIGS.glob("*.yaml") if not p.name.startswith(OTHER_KINDS))
ACCELERATE_YAMLS = sorted((CONFIGS / "accelerate").glob("*.yaml"))


def test_there_is_a_preset_per_model_and_gpu():
    names = {p.stem for p in SFT_YAMLS}
    for model in ("qwen2.5-7b", "qwen3-4b"):
        for gpu in ("t4", "l4", "a100-40gb", "a100-80gb"):
            assert f"{model}_{gpu}" in names
    assert {"debug", "debug_qlora"} <= names


@pytest.mark.parametrize("path", SFT_YAMLS, ids=lambda p: p.name)
def test_every_sft_yaml_loads_validates_and_names_its_launch_command(path):
    cfg = load_sft_config(path)
    command = launch_command(path)
    assert command.startswith("abtune sft --config configs/" + path.name)
    if "t4" in path.name:
        assert cfg.train.precision == "fp16"  # Turing has no bf16
    if "_l4" in path.name or "a100" in path.name:
        assert cfg.train.precision == "bf16" and cfg.data.max_length == 8192


@pytest.mark.parametrize("path", ACCELERATE_YAMLS, ids=lambda p: p.name)
def test_every_accelerate_yaml_loads(path):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(path))
    assert config.distributed_type.value in ("MULTI_GPU", "DEEPSPEED", "FSDP")
    assert launch_command(path).startswith(f"accelerate launch --config_file configs/accelerate/{path.name}")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


BASE = "model:\n  name_or_path: tiny:qwen2.5\ndata:\n  train: [a.jsonl]\n"


def test_unknown_key_names_file_line_and_key(tmp_path):
    path = write(tmp_path, BASE + "train:\n  learning_rat: 0.1\n")
    with pytest.raises(ConfigError) as err:
        load_sft_config(path)
    assert str(err.value).startswith(f"{path}:6: unknown key 'train.learning_rat'; valid keys here: ")


def test_unknown_section(tmp_path):
    path = write(tmp_path, BASE + "optimizer:\n  lr: 1\n")
    with pytest.raises(ConfigError, match=r"run.yaml:5: unknown key 'optimizer'"):
        load_sft_config(path)


def test_wrong_type(tmp_path):
    path = write(tmp_path, BASE + "lora:\n  r: sixteen\n")
    with pytest.raises(ConfigError, match=r"run.yaml:6: 'lora.r' = 'sixteen' has the wrong type"):
        load_sft_config(path)


def test_overrides_dotted_and_bare(tmp_path):
    path = write(tmp_path, BASE)
    cfg = load_sft_config(path, ["train.max_steps=7", "r=4", "model.quantization=4bit"])
    assert (cfg.train.max_steps, cfg.lora.r, cfg.model.quantization) == (7, 4, "4bit")
    with pytest.raises(ConfigError, match="ambiguous"):
        load_sft_config(path, ["seed=1"])  # both data.seed and train.seed
    with pytest.raises(ConfigError, match="key=value"):
        load_sft_config(path, ["max_steps"])


@pytest.mark.parametrize(
    "override,message",
    [
        ("lora.enabled=false model.quantization=4bit", "needs lora.enabled=true"),
        ("train.packing=true", "packing=true needs model.attn_implementation=flash_attention_2"),
        ("data.overlong=cut", "data.overlong='cut' is not one of drop, truncate_turns"),
        ("train.precision=bf32", "train.precision='bf32' is not one of"),
    ],
)
def test_cross_field_rules(tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        load_sft_config(write(tmp_path, BASE), override.split())


def test_launch_command_must_be_first_line(tmp_path):
    with pytest.raises(ConfigError, match=r"run.yaml:1: the first line must be"):
        launch_command(write(tmp_path, BASE))
