"""Single-turn SQL GRPO: the correctness reward's table worked by hand on both backends (right / wrong /
unparsable / harmful SQL: a dropped table, a sleep or recursion bomb, reaching outside the sandbox), the prompts
(the harness's opening conversation, training tables only), and a 2-step run on a tiny model where LoRA weights
move and base weights do not."""

from __future__ import annotations

import json
import os
import time

import pytest

from agentbench_tuning.envs.dbbench import DBTask
from agentbench_tuning.rewards import SQLExecutionReward

T = "`Shop (east)`"
TIMEOUT_S = 1.0


def sample(type_: str, label) -> str:
    task = DBTask(0, "q", "The name of this table is Shop (east), and the headers of this table are Item,Price.",
                  type_, "Shop (east)", ["Item", "Price"], [["pen", "3"], ["ink", "12"], ["cap", "5"]], label,
                  extra={"sql": {"query": ""}},
                  # the reward recomputes the gold hash on its own backend; the sample's is not read
                  answer_md5="[('not used',)]" if type_ in ("INSERT", "UPDATE", "DELETE") else None)
    return json.dumps(task.to_sample())


def op(sql: str) -> str:
    return f"I will run it.\nAction: Operation\n```sql\n{sql}\n```"


RANK = sample("ranking", ["ink"])  # the item with the highest price, numerically
COUNT = sample("counting", [2])
UPD = sample("UPDATE", [f"UPDATE {T} SET `Price` = '4' WHERE `Item` = 'pen';"])
INS = sample("INSERT", [f"INSERT INTO {T} (`Item`, `Price`) VALUES ('nib', '1');"])
DROP = op(f"DROP TABLE {T};")

CASES = [
    # (completion, sample, score, why)
    (op(f"SELECT `Item` FROM {T} ORDER BY CAST(`Price` AS DECIMAL(10,2)) DESC LIMIT 1;"), RANK, 1.0, "right"),
    (op(f"SELECT `Item` FROM {T} WHERE `Price` = '12';"), RANK, 1.0, "other SQL, same answer"),
    (op(f"SELECT `Item` FROM {T} ORDER BY `Price` DESC LIMIT 1;"), RANK, 0.0, "text order: '5' > '3' > '12'"),
    (op(f"SELECT COUNT(*) FROM {T} WHERE CAST(`Price` AS DECIMAL) > 4;"), COUNT, 1.0, "an int result, label [2]"),
    ('I know it.\nAction: Answer\nFinal Answer: ["ink"]', RANK, 1.0, "an answer the grader accepts"),
    ('Action: Answer\nFinal Answer: ["pen"]', RANK, 0.0, "a wrong answer"),
    ("Final Answer: ink", RANK, -1.0, "no newline before Final Answer: the harness rejects it"),
    ("Action: Operation\nSELECT 1;", RANK, -1.0, "no ```sql block"),
    ("The most expensive item is ink.", RANK, -1.0, "no action at all"),
    (op("SELECT nonsense FROM"), RANK, 0.0, "an SQL error is wrong, not unparsable"),
    (DROP, RANK, 0.0, "dropping the table answers nothing"),
    (op(f"UPDATE {T} SET `Price` = '4' WHERE `Item` = 'pen';"), UPD, 1.0, "the gold statement"),
    (op(f"UPDATE {T} SET `Price` = '4' WHERE `Item` = 'PEN';"), UPD, 1.0, "same hash (case-insensitive =)"),
    (op(f"UPDATE {T} SET `Price` = '4';"), UPD, 0.0, "every row changed: another hash"),
    ('Done.\nAction: Answer\nFinal Answer: ["done"]', UPD, 0.0, "an answer does not change the table"),
    (DROP, UPD, 0.0, "a dropped table has no hash"),
    (op(f"INSERT INTO {T} VALUES ('nib', '1');"), INS, 1.0, "insert without a column list"),
    (op(f"INSERT INTO {T} VALUES ('nib', '2');"), INS, 0.0, "another row"),
]


def _mysql_url() -> str:
    from agentbench_tuning.envs.dbbench import server

    if os.environ.get("ABTUNE_MYSQL_URL"):
        return os.environ["ABTUNE_MYSQL_URL"]
    info = server.status()
    if info is None:
        pytest.skip("no MariaDB: run `abtune db start` or set ABTUNE_MYSQL_URL")
    return info.url


@pytest.fixture(scope="module", params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def reward(request):
    url = _mysql_url() if request.param == "mysql" else None
    fn = SQLExecutionReward(request.param, url, timeout_s=TIMEOUT_S)
    yield fn
    fn.close()


def test_reward_table(reward):
    completions, samples = [c[0] for c in CASES], [c[1] for c in CASES]
    scores = reward(completions, sample=samples)
    wrong = [(why, got, want) for (_, _, want, why), got in zip(CASES, scores, strict=True) if got != want]
    assert not wrong, f"{reward.kind}: {wrong}"


def test_trl_calling_convention(reward):
    """TRL passes conversational completions and every dataset column as kwargs; the name is what it logs."""
    completion = [{"role": "assistant", "content": 'x\nAction: Answer\nFinal Answer: ["ink"]'}]
    assert reward([completion, "nothing"], sample=[RANK, RANK], prompts=[[], []], type=["ranking"] * 2) == [1.0, -1.0]
    from trl.trainer.utils import get_callable_name

    assert get_callable_name(reward) == "dbbench_sql_correct"


def test_harm_is_bounded_and_stays_in_the_sandbox(reward, tmp_path):
    gold = op(f"UPDATE {T} SET `Price` = '4' WHERE `Item` = 'pen';")
    bombs = [op("SELECT SLEEP(30);"),
             op("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c;")]
    escapes = [op(f"ATTACH DATABASE '{tmp_path / 'evil.db'}' AS evil;"), op("CREATE DATABASE abt_evil_test;"),
               op("SELECT * FROM mysql.user;"), op("SELECT LOAD_FILE('/etc/passwd');")]
    for completion in [*bombs, *escapes, DROP]:
        started = time.monotonic()
        assert reward([completion], sample=[UPD]) == [0.0], completion
        assert time.monotonic() - started < TIMEOUT_S * 10 + 5, f"{completion} was not cut off"
        assert reward([gold], sample=[UPD]) == [1.0], f"the table did not come back fresh after {completion}"
    assert not (tmp_path / "evil.db").exists()
    if reward.kind == "mysql":
        databases = [row[0] for row in reward.backend()._admin_fetch("SHOW DATABASES")]
        assert "abt_evil_test" not in databases


def test_prompts_are_the_harness_opening_on_training_tables():
    from agentbench_tuning.envs.dbbench import INSTRUCTION
    from agentbench_tuning.envs.dbbench.generate import DBGenConfig, _heldout
    from agentbench_tuning.rl_config import SQLTaskSettings
    from agentbench_tuning.training.sql_grpo import sql_prompts

    data = sql_prompts(SQLTaskSettings(n=12, seed=3))
    assert len(data) == 12
    for row in data:
        task = json.loads(row["sample"])
        assert [m["role"] for m in row["prompt"]] == ["user", "assistant", "user"]
        assert row["prompt"][0]["content"] == INSTRUCTION and row["prompt"][1]["content"] == "Ok."
        assert row["prompt"][2]["content"] == task["description"] + "\n" + task["add_description"]
        assert not _heldout(task["table"]["table_name"], DBGenConfig.heldout_fraction)
    only = sql_prompts(SQLTaskSettings(n=4, seed=3, types=["UPDATE"]))
    assert set(only["type"]) == {"UPDATE"}


def test_shipped_sql_grpo_configs_load():
    from pathlib import Path

    from agentbench_tuning.config import launch_command, load_config

    paths = sorted(Path("configs").glob("sql_grpo_*.yaml"))
    assert paths
    for path in paths:
        load_config(path, "sql_grpo")
        assert "abtune sql-grpo" in launch_command(path)


def length_reward(completions, **kwargs) -> list[float]:
    """A test-only shaping term that differs between completions: a random tiny model writes no SQL, so the
    correctness reward is -1 for all of a group and its advantage (hence the gradient) would be zero."""
    return [len(c[-1]["content"]) / 100 for c in completions]


@pytest.mark.slow
def test_two_grpo_steps_move_lora_only(tmp_path):
    import torch

    from agentbench_tuning.config import load_config
    from agentbench_tuning.training.sql_grpo import build_sql_grpo_trainer, train

    cfg = load_config("configs/sql_grpo_debug.yaml", "sql_grpo", [
        f"train.output_dir={tmp_path / 'run'}", "train.max_steps=2", "data.n=4", "grpo.max_completion_length=8",
        "train.learning_rate=5e-2"])
    setup = build_sql_grpo_trainer(cfg, extra_rewards=[length_reward])
    model = setup.trainer.model
    lora = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_B" in n}
    base = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}
    result = train(setup, cfg)
    assert result.global_step == 2
    assert result.curve("rewards/dbbench_sql_correct/mean") == [-1.0, -1.0]  # random weights write no SQL
    after = dict(model.named_parameters())
    assert lora and all(not torch.equal(lora[n], after[n]) for n in lora)
    assert all(torch.equal(base[n], after[n]) for n in base)
    assert (result.adapter_dir / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize(("kind", "override", "message"), [
    ("sql_grpo", "train.per_device_train_batch_size=3", "= 3 must be a multiple of grpo.num_generations=4"),
    ("sql_grpo", "grpo.num_generations=1", "GRPO compares at least 2 completions"),
    ("sql_grpo", "data.backend=postgres", "data.backend='postgres' is not one of sqlite, mysql"),
    ("dpo", "dpo.loss_type=ipo", "dpo.loss_type='ipo' is not one of sigmoid, sigmoid_norm"),
    ("dpo", "explore.temperature=0", "explore.temperature=0: must be > 0"),
    ("dpo", "dpo.beta=0", "dpo.beta must be positive"),
])
def test_config_rules_name_the_field(kind, override, message):
    from agentbench_tuning.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="configs/") as err:
        load_config(f"configs/{kind}_debug.yaml", kind, [override])
    assert message in str(err.value)
