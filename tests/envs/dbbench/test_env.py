"""The v0.2 episode loop on crafted replay turns: each test states the verdict v0.2 gives and why.

Run over both backends; the mysql cases use the managed MariaDB (marker `mysql`).
"""

from __future__ import annotations

import hashlib

import pytest

from agentbench_tuning.envs.dbbench import (
    DBBenchEnv,
    MySQLBackend,
    OracleAgent,
    ReplayAgent,
    SQLiteBackend,
)
from agentbench_tuning.envs.dbbench.prompts import INSTRUCTION
from agentbench_tuning.rollout.scripted import play_episode

OP = "Let me query.\nAction: Operation\n```sql\n{}\n```"


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def backend(request):
    if request.param == "sqlite":
        made = SQLiteBackend()
    else:
        made = MySQLBackend(request.getfixturevalue("mysql_url"))
    yield made
    made.close()


def run_episode(env, task, agent):
    """One episode through the shared runner; the record's `info` fields (answer, rounds, error) lifted."""
    record = play_episode(agent, env, task, index=task.index, type=task.type)
    return {**record, **record["info"], "transcript": record["messages"]}


def play(backend, task, turns):
    return run_episode(DBBenchEnv(backend), task, ReplayAgent({task.index: turns}))


def test_conversation_shape(backend, towns):
    env = DBBenchEnv(backend)
    assert env.reset(towns) == towns.description + "\n" + towns.add_description
    assert env.messages == [{"role": "user", "content": INSTRUCTION}, {"role": "assistant", "content": "Ok."},
                            {"role": "user", "content": towns.prompt}]
    step = env.step(OP.format("SELECT `Town` FROM `Towns of Vell (2020)` WHERE `Bridges` = '30';"))
    assert step.observation == "[(\"Cor d'Ine\",)]"  # str(fetchall()) of a TEXT value with an apostrophe
    assert not step.done and env.messages[-1] == {"role": "user", "content": step.observation}


def test_quoted_list_after_operation_is_correct(backend, towns):
    rec = play(backend, towns, [OP.format("SELECT COUNT(*) FROM `Towns of Vell (2020)`;"),
                                "Done.\nAction: Answer\nFinal Answer: [\"Cor d'Ine\"]"])
    assert rec["transcript"][4]["content"] == "[(5,)]"  # COUNT is an int in the fetch result
    assert (rec["status"], rec["verdict"]) == ("completed", True)


@pytest.mark.parametrize(("turn", "status", "verdict", "why"), [
    ("Action: Answer\nFinal Answer: Cor d'Ine", "completed", False, "unbracketed answer kept raw with a space"),
    ('Action: Answer\nFinal Answer: "Cor d\'Ine"', "completed", False, "a quoted string iterates into letters"),
    ("Final Answer: [\"Cor d'Ine\"]", "agent validation failed", False, "no newline before Final Answer"),
    ("I know it.\nFinal Answer: [\"Cor d'Ine\"]", "completed", True, "no Action line, but \\nFinal Answer: is found"),
    ("Action: Answer\nthe answer is Cor d'Ine", "agent validation failed", False, "no Final Answer line"),
    ("Action: Operation\nSELECT 1", "agent validation failed", False, "Operation without a ```sql block"),
])
def test_crafted_answer_verdicts(backend, towns, turn, status, verdict, why):
    rec = play(backend, towns, [turn])
    assert (rec["status"], rec["verdict"]) == (status, verdict), why


def test_operation_without_newline_is_not_an_operation(backend, towns):
    # "Action: (.*?)\n" needs a newline; here it captures "Operation ```sql", so v0.2 takes the answer path,
    # finds no Final Answer and fails the episode without running the SQL.
    rec = play(backend, towns, ["Action: Operation ```sql\nSELECT 1;\n```"])
    assert (rec["status"], rec["verdict"], len(rec["transcript"])) == ("agent validation failed", False, 4)


def test_only_the_first_sql_block_runs(backend, towns):
    turn = ("Two blocks.\nAction: Operation\n```sql\nSELECT `Town` FROM `Towns of Vell (2020)` WHERE `No.` = '2';"
            "\n```\n```sql\nDELETE FROM `Towns of Vell (2020)`;\n```")
    env = DBBenchEnv(backend)
    env.reset(towns)
    assert env.step(turn).observation == "[('Bexa',)]"
    assert env.step(OP.format("SELECT COUNT(*) FROM `Towns of Vell (2020)`;")).observation == "[(5,)]"


def test_fifteen_operations_then_answer_counts(backend, towns):
    turns = [OP.format("SELECT 1;")] * 15 + ["Action: Answer\nFinal Answer: [\"Cor d'Ine\"]"]
    rec = play(backend, towns, turns)
    assert (rec["status"], rec["verdict"], rec["rounds"]) == ("completed", True, 15)


def test_sixteenth_operation_is_not_run_and_limit_is_reached(backend, towns):
    rec = play(backend, towns, [OP.format("SELECT 1;")] * 16)
    assert (rec["status"], rec["verdict"], rec["rounds"]) == ("task limit reached", False, 15)
    assert len(rec["transcript"]) == 3 + 15 * 2 + 1  # the 16th turn got no result


def _expected_hash(rows):
    # The grader's fingerprint worked by hand: md5 of the sorted 5-char row hashes joined by commas.
    short = sorted(hashlib.md5(",".join(r).encode()).hexdigest()[:5] for r in rows)
    return str([(hashlib.md5(",".join(short).encode()).hexdigest(),)])


def test_update_graded_by_table_hash_whatever_the_answer(backend, city):
    base = city("UPDATE")
    rows = [list(r) for r in base.rows]
    rows[1][2] = "8"
    task = city("UPDATE", ["UPDATE `Towns of Vell (2020)` SET `Bridges` = '8' WHERE `Town` = 'bexa';"],
                     _expected_hash(rows))
    # '= 'bexa'' matches 'Bexa': text comparison is case-insensitive on MySQL (and on our SQLite columns).
    rec = play(backend, task, [OP.format(task.label[0]), "no answer at all"])
    assert (rec["status"], rec["verdict"]) == ("agent validation failed", True)
    assert rec["answer"] == task.answer_md5


def test_numeric_where_on_text_matches_mysql(backend, city):
    # MySQL compares '?' with 5 as doubles ('?' -> 0, with a warning in non-strict mode): row '?' is updated too.
    rows = [list(r) for r in city().rows]
    for r in rows:
        if r[0] in ("?", "1", "2", "3", "4") and (0 if r[0] == "?" else int(r[0])) < 3:
            r[3] = "unknown"
    task = city("UPDATE", ["UPDATE `Towns of Vell (2020)` SET `Founded` = 'unknown' WHERE `No.` < 3;"],
                     _expected_hash(rows))
    assert play(backend, task, [OP.format(task.label[0]), "Action: Answer\nFinal Answer: []"])["verdict"] is True


def test_oracle_on_missing_table_does_not_crash(backend, city):
    task = city("INSERT", ["INSERT INTO `T` (`a`) VALUES ('1');"], "[('x',)]")
    task.columns, task.table_name = ["a", "A"], "T"  # duplicate column names: set-up fails, v0.2 goes on
    task.rows = []
    assert task.table_error == "duplicate column name 'A'"
    rec = run_episode(DBBenchEnv(backend), task, OracleAgent())
    assert rec["status"] == "completed" and rec["verdict"] is False
    assert rec["transcript"][4]["content"] == "1146 (42S02): Table 'T.T' doesn't exist"
    assert rec["answer"] == "1146 (42S02): Table 'T.T' doesn't exist"  # what v0.2 compared with answer_md5


def test_statement_block_with_two_statements(backend, towns):
    # v0.2 ran blocks with multi=True, then committed: with two statements mysql-connector 8.0.33 raised
    # "Commands out of sync" and the reconnect rolled the DELETE back (checked once by a
    # differential run on that client). SQLite runs the block in a savepoint and rolls it back the same way.
    env = DBBenchEnv(backend)
    env.reset(towns)
    first = env.step(OP.format("SELECT COUNT(*) FROM `Towns of Vell (2020)`; DELETE FROM `Towns of Vell (2020)`;"))
    after = env.step(OP.format("SELECT COUNT(*) FROM `Towns of Vell (2020)`;")).observation
    assert (first.observation, first.info["action_failed"], after) == (
        "Commands out of sync; you can't run this command now", True, "[(5,)]")


def test_block_whose_second_statement_fails_shows_that_error(backend, towns):
    env = DBBenchEnv(backend)
    env.reset(towns)
    first = env.step(OP.format("DELETE FROM `Towns of Vell (2020)`; SELECT `Nope` FROM `Towns of Vell (2020)`"))
    after = env.step(OP.format("SELECT COUNT(*) FROM `Towns of Vell (2020)`;")).observation
    assert (first.observation, after) == ("1054 (42S22): Unknown column 'Nope' in 'SELECT'", "[(5,)]")


@pytest.mark.mysql
def test_ddl_in_a_block_stays_on_mysql(mysql_url, towns):
    # DDL commits implicitly, so the CREATE TABLE of a two-statement block survives the rollback (as in v0.2).
    backend = MySQLBackend(mysql_url)
    try:
        env = DBBenchEnv(backend)
        env.reset(towns)
        env.step(OP.format("CREATE TABLE extra (a TEXT); SELECT 1"))
        assert env.step(OP.format("SHOW TABLES")).observation == "[('Towns of Vell (2020)',), ('extra',)]"
    finally:
        backend.close()


def test_set_with_numbers_stores_their_text(backend, city):
    # `SET col = 4` on a TEXT column stores '4' (MySQL converts; SQLite's TEXT affinity too). The SQLite
    # translation must leave SET assignments alone (they are `=` nodes, not comparisons).
    rows = [list(r) for r in city().rows]
    rows[1][2], rows[1][3] = "4", "5"
    sql = "UPDATE `Towns of Vell (2020)` SET `Bridges` = 4, `Founded` = 5 WHERE `Town` = 'Bexa';"
    task = city("UPDATE", [sql], _expected_hash(rows))
    assert run_episode(DBBenchEnv(backend), task, OracleAgent())["verdict"] is True


@pytest.mark.parametrize("literal", ["'arlo'", "'ARLO  '", "'Ârlo'"])
def test_text_equality_follows_mysql_collation(backend, towns, literal):
    # utf8mb4_general_ci ignores case, trailing spaces and accents; the SQLite columns use the same rule.
    env = DBBenchEnv(backend)
    env.reset(towns)
    obs = env.step(OP.format(f"SELECT `Town` FROM `Towns of Vell (2020)` WHERE `Town` = {literal};")).observation
    assert obs == "[('Arlo',)]"


@pytest.mark.mysql
def test_unique_databases_run_side_by_side(mysql_url, city):
    # Two episodes of one sample at once (GRPO groups) need separate databases; the 62-character table name
    # plus a suffix must still fit MySQL's 64-character database names.
    task = city()
    task.table_name = "T" * 62
    task.add_description = ""
    backends = [MySQLBackend(mysql_url, unique_databases=True) for _ in range(2)]
    try:
        envs = [DBBenchEnv(b) for b in backends]
        for env in envs:
            env.reset(task)
        envs[0].step(OP.format(f"DELETE FROM `{'T' * 62}`;"))
        counts = [env.step(OP.format(f"SELECT COUNT(*) FROM `{'T' * 62}`;")).observation for env in envs]
    finally:
        for b in backends:
            b.close()
    assert counts == ["[(0,)]", "[(5,)]"]
