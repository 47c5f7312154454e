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
    (lambda s: s["table"]["table_info"]["rows"].append({"No.": "6"}),
     ':2: field "table.table_info.rows[5]" must be a list of 4 values, got dict'),
    (lambda s: s["table"]["table_info"]["rows"].append(["6", "Fenn"]),
     ':2: field "table.table_info.rows[5]" has 2 values for 4 columns'),
    (lambda s: s["table"]["table_info"]["rows"][0].__setitem__(1, ["nested"]),
     ':2: field "table.table_info.rows[0][1]" must be a string, number or null, got list'),
    (lambda s: s["table"]["table_info"]["columns"].__setitem__(1, {"name": 7}),
     ':2: field "table.table_info.columns[1]" must be an object with a string "name"'),
    (lambda s: s["table"]["table_info"]["columns"][3].update(name="town"),
     ':2: field "table.table_info.columns[3].name": duplicate column name \'town\', so MySQL cannot create this '
     "table; fix the sample, or load with allow_broken_tables=True to run it without a table as v0.2 did"),
    (lambda s: s["table"]["table_info"]["columns"][0].update(name=""),
     ':2: field "table.table_info.columns[0].name": column name \'\' is empty'),
    (lambda s: s["table"].update(table_name="T" * 65),
     ':2: field "table.table_name": table name \'' + "T" * 65 + "' is 65 characters long (MySQL allows 64)"),
])
def test_load_errors_name_file_line_field(tmp_path, towns, mutate, message):
    bad = json.loads(json.dumps(towns.to_sample()))  # a deep copy: the fixture's rows stay as they are
    mutate(bad)
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(towns.to_sample()) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(ValueError) as err:
        load_tasks(path)
    assert str(path) + message in str(err.value)


def test_broken_tables_load_when_allowed(tmp_path, towns):
    bad = towns.to_sample()
    bad["table"]["table_info"]["columns"][3]["name"] = "Town"
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(bad) + "\n")
    (task,) = load_tasks(path, allow_broken_tables=True)
    assert task.table_error == "duplicate column name 'Town'"


@pytest.mark.parametrize(("text", "message"), [
    ("", "e.jsonl: no samples (the file is empty); expected one JSON object per line"),
    ("\n  \n", "e.jsonl: no samples (the file is empty); expected one JSON object per line"),
    ("[1]\n", "e.jsonl:1: a sample must be a JSON object, got list"),
    ('"x"\n', "e.jsonl:1: a sample must be a JSON object, got str"),
])
def test_load_rejects_empty_files_and_non_objects(tmp_path, text, message):
    path = tmp_path / "e.jsonl"
    path.write_text(text)
    with pytest.raises(ValueError) as err:
        load_tasks(path)
    assert str(err.value) == str(tmp_path) + "/" + message


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
