"""Resume rules on real tiny runs: a finished run is reported and not trained again (files byte-identical);
torn checkpoints next to real ones are skipped with a message and training resumes the newest complete one."""

from __future__ import annotations

import json
import logging
import shutil

import pytest
from safetensors.torch import load_file

from agentbench_tuning.training.sft import build_sft_trainer, run_sft, train

pytestmark = pytest.mark.slow

TWO_STEPS = ("train.max_steps=2", "train.save_steps=1", "train.eval_steps=2")


@pytest.fixture(scope="module")
def two_step_run(tmp_path_factory, tiny_config):
    directory = tmp_path_factory.mktemp("two-steps")
    cfg = tiny_config(directory, *TWO_STEPS)
    result = train(build_sft_trainer(cfg), cfg)
    assert result.global_step == 2 and not result.already_finished
    return directory, result


def files(directory) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_rerunning_a_finished_run_trains_nothing(two_step_run, tiny_config, caplog):
    directory, first = two_step_run
    out = directory / "run"
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    before = {**files(out / "final"), **{f"ckpt/{k}": v for k, v in files(out / "checkpoint-2").items()}}
    cfg = tiny_config(directory, *TWO_STEPS)
    with caplog.at_level(logging.WARNING, logger="agentbench_tuning.training"):
        via_setup = train(build_sft_trainer(cfg), cfg)  # the notebook's path
        via_cli = run_sft(cfg)  # the CLI's path: reports before loading the model
    for result in (via_setup, via_cli):
        assert result.already_finished and result.resumed_from is None
        assert result.global_step == 2 and result.adapter_dir == out / "final"
        assert [e["step"] for e in result.log_history if "loss" in e] == [1, 2]
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    after = {**files(out / "final"), **{f"ckpt/{k}": v for k, v in files(out / "checkpoint-2").items()}}
    assert after.keys() == before.keys() and all(after[k] == before[k] for k in before)
    finished = [m for m in caplog.messages if "already finished" in m]
    assert len(finished) == 2 and str(out) in finished[0] and "train.resume=never" in finished[0]
    assert "step 2 of 2" in finished[0]


def test_resume_skips_torn_checkpoints_and_takes_the_newest_complete(two_step_run, tiny_config, tmp_path, caplog):
    source, _ = two_step_run
    shutil.copytree(source / "run", tmp_path / "run")
    out = tmp_path / "run"
    # Killed while writing: checkpoint-3 before its trainer state, checkpoint-4 in the middle of the weights.
    shutil.copytree(out / "checkpoint-2", out / "checkpoint-3")
    (out / "checkpoint-3" / "trainer_state.json").unlink()
    shutil.copytree(out / "checkpoint-2", out / "checkpoint-4")
    weights = out / "checkpoint-4" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    (out / "merged").mkdir()  # exported from the 2-step adapter
    before = load_file(out / "final" / "adapter_model.safetensors")

    cfg = tiny_config(tmp_path, "train.max_steps=4", "train.save_steps=1", "train.eval_steps=2")
    with caplog.at_level(logging.WARNING, logger="agentbench_tuning.training"):
        result = train(build_sft_trainer(cfg), cfg)

    skipped = [m for m in caplog.messages if m.startswith("skipping incomplete checkpoint")]
    assert skipped[0].startswith(f"skipping incomplete checkpoint {out / 'checkpoint-4'}: adapter_model.safetensors is")
    assert skipped[0].endswith("(cut short)")
    assert skipped[1] == (f"skipping incomplete checkpoint {out / 'checkpoint-3'}: no trainer_state.json "
                          "(the run was stopped while saving it)")  # fmt: skip
    notice = next(m for m in caplog.messages if m.startswith("resuming"))
    assert f"resuming {out / 'checkpoint-2'} (step 2)" in notice and "re-export" in notice
    assert result.resumed_from == str(out / "checkpoint-2") and not result.already_finished
    assert result.global_step == 4
    assert [e["step"] for e in result.log_history if "loss" in e] == [1, 2, 3, 4]
    state = json.loads((out / "final" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    after = load_file(out / "final" / "adapter_model.safetensors")
    assert any(not (before[k] == after[k]).all() for k in before if "lora_B" in k)  # final/ holds new weights


def test_a_run_stopped_before_final_is_not_trained_past_max_steps(two_step_run, tiny_config, tmp_path):
    """Stopped after its last checkpoint but before final/ (the same as a run from before final/ kept its
    state): without the rule, resuming checkpoint-2 ran a third step and wrote checkpoint-3."""
    source, _ = two_step_run
    shutil.copytree(source / "run", tmp_path / "run")
    out = tmp_path / "run"
    shutil.rmtree(out / "final")
    cfg = tiny_config(tmp_path, *TWO_STEPS)
    result = train(build_sft_trainer(cfg), cfg)
    assert result.already_finished and result.global_step == 2
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    restored = (out / "final" / "adapter_model.safetensors").read_bytes()
    assert restored == (out / "checkpoint-2" / "adapter_model.safetensors").read_bytes()
    assert not (out / "final" / "optimizer.pt").exists()
