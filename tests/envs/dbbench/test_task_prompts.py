"""Sample loading errors name file:line:field; the prompt importer reads a checkout without running it."""

from __future__ import annotations

import json

import pytest

from agentbench_tuning.envs.dbbench import DBBenchEnv, SQLiteBackend, import_agentbench_prompts, load_tasks


def test_load_round_trip(tmp_path, towns):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(towns.to_sample()) + "\n\n" + json.dumps(towns.to_sample()) + "\n")
    tasks = load_tasks(path)
    assert [t.index for t in tasks] == [0, 1]  # blank lines do not count; index = position
    assert tasks[1].columns == towns.columns and tasks[1].label == ["Cor d'Ine"]


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda s: s.pop("description"), ':2: field "description" is missing'),
    (lambda s: s.update(type=["SELECT"]), ':2: field "type" must be a one-element list'),
    (lambda s: s.update(type=["UPDATE"]), ':2: field "answer_md5" (a string) is required for UPDATE'),
    (lambda s: s["table"].pop("table_name"), ':2:table: field "table_name" is missing'),
])
def test_load_errors_name_file_line_field(tmp_path, towns, mutate, message):
    bad = towns.to_sample()
    mutate(bad)
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(towns.to_sample()) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(ValueError) as err:
        load_tasks(path)
    assert str(path) + message in str(err.value)


def test_load_rejects_broken_json(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text("{not json\n")
    with pytest.raises(ValueError, match=r"x.jsonl:1: not valid JSON"):
        load_tasks(path)


def test_import_prompt_from_fake_checkout(tmp_path, towns):
    source = tmp_path / "AB" / "src" / "server" / "tasks" / "dbbench" / "__init__.py"
    source.parent.mkdir(parents=True)
    # Dummy text, not AgentBench's; the raise proves the importer parses instead of executing the file.
    source.write_text('import os\nraise SystemExit("must not run")\nbig_prompt = """\nDUMMY RULES\n"""\n')
    written = import_agentbench_prompts(tmp_path / "AB", tmp_path / "prompts")
    assert written.read_text() == "\nDUMMY RULES\n"
    env = DBBenchEnv(SQLiteBackend(), prompt_file=written)
    env.reset(towns)
    assert env.messages[0] == {"role": "user", "content": "\nDUMMY RULES\n"}


def test_import_prompt_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="v0.2 branch"):
        import_agentbench_prompts(tmp_path, tmp_path / "out")
    source = tmp_path / "src" / "server" / "tasks" / "dbbench" / "__init__.py"
    source.parent.mkdir(parents=True)
    source.write_text("other = 1\n")
    with pytest.raises(ValueError, match="no `big_prompt"):
        import_agentbench_prompts(tmp_path, tmp_path / "out")
