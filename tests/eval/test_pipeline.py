"""One pipeline: every benchmark of the table with every scripted agent through the shared runner, one
record schema, run identity on resume, greedy seeds counted once, records -> SFT data and DPO pairs."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from agentbench_tuning.cli import app
from agentbench_tuning.config import EvalRunConfig, EvalSettings, ModelConfig
from agentbench_tuning.data.from_runs import load_run_records, sft_from_runs, step_pairs, trajectory_pairs
from agentbench_tuning.envs.benchmarks import BENCHMARKS
from agentbench_tuning.eval.runner import RunMismatch, evaluate, run_identity
from agentbench_tuning.records import RECORD_KEYS, read_records


@pytest.fixture(scope="module")
def db_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("db")
    result = CliRunner().invoke(app, ["data", "dbbench-gen", "--out", str(out), "--n", "24", "--seed", "5"])
    assert result.exit_code == 0, result.output
    return out / "train.jsonl"


def _settings(name, agent, out, db_data, game_dir=None, **extra):
    common = dict(benchmark=name, agent=agent, out=str(out), **extra)
    if name == "dbbench":
        return EvalSettings(data=str(db_data), **common)
    if name == "alfworld-engine":
        return EvalSettings(game_dir=str(game_dir), **common)
    return EvalSettings(games=6, **common)


def _engine_games(tmp_path):
    from agentbench_tuning.envs.alfworld import build_test_game, engine_missing

    if engine_missing():
        pytest.skip(engine_missing())
    build_test_game(tmp_path / "games")
    return tmp_path / "games"


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_every_entry_scripted_agents_score_100_with_one_record_schema(name, db_data, tmp_path):
    game_dir = _engine_games(tmp_path) if name == "alfworld-engine" else None
    solver = "oracle" if "oracle" in BENCHMARKS[name].agents else "expert"
    result = evaluate(EvalRunConfig(ModelConfig(name_or_path=""),
                                    eval=_settings(name, solver, tmp_path / solver, db_data, game_dir)))
    assert result.summary["score"]["mean"] == 1.0 and result.task_errors == 0
    records = list(read_records(tmp_path / solver / "records.jsonl"))
    assert all(tuple(sorted(r)) == tuple(sorted(RECORD_KEYS)) for r in records)
    # The records replay as they are, to the same verdicts.
    replay = _settings(name, "replay", tmp_path / "replay", db_data, game_dir,
                       responses=str(tmp_path / solver / "records.jsonl"))
    evaluate(EvalRunConfig(ModelConfig(name_or_path=""), eval=replay))
    again = {r["index"]: r for r in read_records(tmp_path / "replay" / "records.jsonl")}
    assert {r["index"]: (r["status"], r["verdict"]) for r in records} == \
        {i: (r["status"], r["verdict"]) for i, r in again.items()}


def test_resuming_another_run_is_refused_with_the_difference(tmp_path, db_data):
    cfg = EvalRunConfig(ModelConfig(name_or_path=""), eval=_settings("alfworld-sim", "expert", tmp_path, db_data))
    evaluate(cfg)
    other = EvalRunConfig(ModelConfig(name_or_path=""),
                          eval=EvalSettings(benchmark="alfworld-sim", agent="expert", games=6, game_seed=3,
                                            out=str(tmp_path)))
    with pytest.raises(RunMismatch, match=r"game_seed: 0 -> 3.*--overwrite"):
        evaluate(other)
    result = CliRunner().invoke(app, ["eval", "alfworld", "--games", "6", "--seed", "3", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "holds another run" in result.output
    # --overwrite starts over and keeps the earlier files aside.
    result = CliRunner().invoke(app, ["eval", "alfworld", "--games", "6", "--seed", "3", "--out", str(tmp_path),
                                      "--overwrite"])
    assert result.exit_code == 0, result.output
    [aside] = list(tmp_path.glob("previous-*"))
    assert len((aside / "records.jsonl").read_text().splitlines()) == 6


def test_greedy_seeds_are_counted_once(tmp_path, db_data):
    cfg = EvalRunConfig(ModelConfig(name_or_path=""),
                        eval=_settings("alfworld-sim", "expert", tmp_path, db_data, seeds=[0, 1, 2]))
    result = evaluate(cfg)
    assert result.seeds_run == (0,) and result.summary["n_episodes"] == 6
    assert "deterministic" in result.summary["seeds_note"]


def test_records_to_sft_data_and_pairs(tmp_path, db_data, tokenizers):
    from agentbench_tuning.chat import encode_messages

    for agent, responses in (("expert", None), ("replay", tmp_path / "bad.jsonl")):
        if responses:  # a weak agent: a few right actions, then junk, so every episode fails
            # index 0 fails at its very first turn: its task turn still shows the action list (v0.2 removes it
            # only after an action), and it must still pair with the expert's episode of the same game
            responses.write_text("".join(json.dumps({"index": i, "turns": ["no"] if i == 0 else
                                                     ["THOUGHT: hm\nACTION: look", "no"]}) + "\n" for i in range(6)))
        evaluate(EvalRunConfig(ModelConfig(name_or_path=""), eval=_settings(
            "alfworld-sim", agent, tmp_path / agent, db_data, responses=str(responses) if responses else None)))
    conversations = sft_from_runs([tmp_path / "expert", tmp_path / "replay"], success_only=True)
    assert len(conversations) == 6 and all(c["agent"] == "expert" for c in conversations)
    record = next(r for r in read_records(tmp_path / "expert" / "records.jsonl") if r["index"] == 0)
    conv = next(c for c in conversations if c["index"] == 0)
    # Exactly the agent's own turns are trained: label tokens = those turns' contents + end-of-turn tokens.
    tok = tokenizers["qwen2.5"]
    encoded = encode_messages(conv["messages"], tok)
    trained = [t for t, label in zip(encoded.input_ids, encoded.labels, strict=True) if label != -100]
    own = [m["content"] for m in record["messages"] if m.get("sampled")]
    expected = [i for text in own for i in tok(text, add_special_tokens=False)["input_ids"] + [tok.convert_tokens_to_ids("<|im_end|>")]]
    assert trained == expected
    records = load_run_records([tmp_path / "expert", tmp_path / "replay"])
    pairs = trajectory_pairs(records)
    assert len(pairs) == 6 and all(p["chosen"] != p["rejected"] for p in pairs)
    assert all(m["loss"] is False for p in pairs for m in p["chosen"] if m["role"] == "user")
    steps = step_pairs(records)
    assert steps and all(len(p["chosen"]) == len(p["rejected"]) == 1 for p in steps)
    assert all(p["prompt"][-1]["role"] == "user" for p in steps)


@pytest.mark.slow
def test_sft_trains_on_data_from_runs(tmp_path, db_data):
    """`abtune data from-runs` output is a data source the SFT trainer takes as it is."""
    from agentbench_tuning.config import load_config
    from agentbench_tuning.training.sft import run_sft

    evaluate(EvalRunConfig(ModelConfig(name_or_path=""), eval=_settings("alfworld-sim", "expert", tmp_path / "x",
                                                                        db_data)))
    out = tmp_path / "rs.jsonl"
    result = CliRunner().invoke(app, ["data", "from-runs", str(tmp_path / "x"), "--out", str(out)])
    assert result.exit_code == 0 and "wrote 6 conversations" in result.output, result.output
    cfg = load_config(None, "sft", [
        "model.name_or_path=tiny:qwen2.5", f"data.train=[{out}]", "data.eval_fraction=0.0",
        f"train.output_dir={tmp_path / 'sft'}", "train.max_steps=2", "train.per_device_train_batch_size=2",
        "train.gradient_accumulation_steps=1", "train.gradient_checkpointing=false", "train.precision=fp32",
        "train.logging_steps=1", "train.save_steps=100", "train.report_to=none"])
    run = run_sft(cfg)
    assert run.global_step == 2 and len(run.losses) == 2


@pytest.mark.slow
def test_report_compares_a_scripted_run_with_a_model_run(tmp_path, db_data, tiny_model_dirs):
    from agentbench_tuning.config import RolloutSettings, Sampling

    evaluate(EvalRunConfig(ModelConfig(name_or_path=""), eval=_settings("alfworld-sim", "expert", tmp_path / "expert",
                                                                        db_data)))
    evaluate(EvalRunConfig(ModelConfig(name_or_path=str(tiny_model_dirs["qwen2.5"])),
                           RolloutSettings(engine="transformers", sampling=Sampling(max_new_tokens=4)),
                           _settings("alfworld-sim", "model", tmp_path / "model", db_data)))
    result = CliRunner().invoke(app, ["report", str(tmp_path / "expert"), str(tmp_path / "model"), "--compare",
                                      str(tmp_path / "model"), str(tmp_path / "expert"), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "r" / "report.md").read_text()
    assert "| expert | expert | success_rate | 100.0 ± 0.0 | 1 | 6 |" in text
    assert "| model | model | success_rate | 0.0 ± 0.0 | 1 | 6 |" in text
    assert "expert is better than model: expert 100.0% vs model 0.0%" in text


def test_easy_simulator_worlds_are_one_config_key_and_part_of_the_run(tmp_path):
    """`eval.world` reaches the generator (every easy world has 4-6 receptacles and no object starts hidden, the
    default has 8-20), is part of the run's identity, and is refused for a benchmark it cannot change."""
    from agentbench_tuning.config import ConfigError, SimWorld, load_config
    from agentbench_tuning.envs.alfworld.sim import SimGame

    def worlds(settings):
        games = [SimGame(spec.task) for spec in BENCHMARKS["alfworld-sim"].load_tasks(settings)]
        return [(game.reset(), game.world)[1] for game in games]

    easy = EvalSettings(benchmark="alfworld-sim", agent="expert", games=6, world=SimWorld.easy(), out=str(tmp_path))
    assert all(4 <= len(w.receptacles) <= 6 and len(w.items) <= 4 for w in worlds(easy))
    assert all(len(w.receptacles) >= 8 for w in worlds(replace(easy, world=SimWorld())))
    result = evaluate(EvalRunConfig(ModelConfig(name_or_path=""), eval=easy))
    assert result.summary["success"]["rate"] == 1.0  # the expert wins easy worlds too
    identity = json.loads((tmp_path / "identity.json").read_text())
    assert identity["world"] == {"min_receptacles": 4, "max_receptacles": 6, "distractors": 2, "hidden_prob": 0.0}
    with pytest.raises(RunMismatch, match=r"world: .*--overwrite"):  # a default-world run cannot resume here
        evaluate(EvalRunConfig(ModelConfig(name_or_path=""), eval=replace(easy, world=SimWorld())))
    assert "world" not in run_identity(EvalRunConfig(ModelConfig(name_or_path=""), eval=replace(easy, world=SimWorld())))
    cli = CliRunner().invoke(app, ["eval", "alfworld", "--games", "6", "--out", str(tmp_path), "eval.world.distractors=2",
                                   "eval.world.min_receptacles=4", "eval.world.max_receptacles=6",
                                   "eval.world.hidden_prob=0.0"])
    assert cli.exit_code == 0, cli.output  # the same run, given as overrides: resumed, not refused
    with pytest.raises(ConfigError, match="eval.world sets how alfworld-sim generates"):
        load_config(None, "eval", ["eval.world.distractors=2"])  # the default benchmark is dbbench
    with pytest.raises(ConfigError, match="need 4 <= min_receptacles <= max_receptacles, got 3..20"):
        load_config(None, "eval", ["eval.benchmark=alfworld-sim", "eval.world.min_receptacles=3"])
