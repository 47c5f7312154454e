"""Sandbox: hostile and random statements end as a bounded observation within the turn limit on both backends,
the model cannot lift the limits or leave locks or transactions behind, nothing reaches files or other
databases, the grader never waits long, and the server is clean for the next run (issue 13)."""

from __future__ import annotations

import hashlib
import os
import re
import resource
import time

import mysql.connector
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentbench_tuning.envs.dbbench import DatabaseUnavailable, DBBenchEnv, MySQLBackend, SQLiteBackend
from agentbench_tuning.envs.dbbench.hostile import HOSTILE
from agentbench_tuning.envs.dbbench.mysql_backend import MySQLURL
from agentbench_tuning.envs.dbbench.sandbox import (
    LOCK_WAIT_TIMEOUT_S,
    STATEMENT_TIMEOUT_S,
    TIMED_OUT,
    TURN_TIMEOUT_S,
    check_statement,
)

TABLE = "`Towns of Vell (2020)`"
MYSQL_ERROR = re.compile(r"\d{4} \([0-9A-Z]{5}\): |Commands out of sync; you can't run this command now$")
# Random statements: free text plus SQL-looking fragments, so the parser gets past the first token.
SQL_WORDS = st.sampled_from(["SELECT", "FROM", TABLE, "WHERE", "*", "(", ")", ",", "'x'", "1", "UNION", "JOIN",
                             "ORDER BY", "GROUP BY", "SLEEP(5)", ";", "DROP", "INSERT INTO", "VALUES", "`Town`",
                             "SET", "LOCK", "XA", "/*!", "*/", "#", "--", "GET_LOCK('a', 0)", "CAST(1 AS DECIMAL(9,3))"])
RANDOM_SQL = st.one_of(st.text(max_size=200), st.lists(SQL_WORDS, max_size=15).map(" ".join))


def op(sql: str) -> str:
    return "Trying.\nAction: Operation\n```sql\n" + sql + "\n```"


def check_bounded(env: DBBenchEnv, sql: str):
    started = time.monotonic()
    result = env.step(op(sql))
    assert time.monotonic() - started < TURN_TIMEOUT_S + 0.5, sql
    assert len(result.observation) <= 800 + len("[TRUNCATED]"), sql
    assert result.info["action_failed"] is bool(MYSQL_ERROR.match(result.observation)), (sql, result.observation)
    assert not os.path.exists("/tmp/abtune_escape.txt") and not os.path.exists("/tmp/abtune_escape.db")
    return result


def still_works(env: DBBenchEnv, task) -> None:
    env.reset(task)
    assert env.step(op("SELECT 41 + 1;")).observation == "[(42,)]"
    assert env.step(op(f"SELECT COUNT(*) FROM {TABLE};")).observation == "[(5,)]"


def run_all(env: DBBenchEnv, task, statements) -> None:
    for sql in statements:
        env.reset(task)  # a fresh episode each: DROP TABLE must not hide what the next statement does
        check_bounded(env, sql.replace("{t}", TABLE))
    still_works(env, task)


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def backend(request):
    made = SQLiteBackend() if request.param == "sqlite" else MySQLBackend(request.getfixturevalue("mysql_url"))
    yield made
    made.close()


def test_hostile_statements_sqlite(towns):
    run_all(DBBenchEnv(SQLiteBackend()), towns, HOSTILE)


DENIED = [
    ("SET SESSION max_statement_time = 0", "SET"),
    ("SET STATEMENT max_statement_time=0 FOR SELECT SLEEP(60)", "SET"),
    ("/*!50000 SET max_statement_time = 0 */", "SET"),
    ("SELECT 1; /*M!100000 SET max_statement_time = 0 */", "SET"),
    ("LOCK TABLES {t} WRITE", "LOCK TABLES"),
    ("XA START 'abt'; UPDATE {t} SET `Town` = 'x'; XA END 'abt'; XA PREPARE 'abt'", "XA"),
    ("HANDLER {t} OPEN", "HANDLER"),
    ("SELECT GET_LOCK('x', 0)", "GET_LOCK()"),
    ("SELECT `Town` FROM {t} WHERE RELEASE_LOCK('x')", "RELEASE_LOCK()"),
    ("EXECUTE IMMEDIATE 'SET max_statement_time = 0'", "EXECUTE"),
    ("BEGIN NOT ATOMIC SELECT SLEEP(9); END", "BEGIN"),
    ("start transaction", "START TRANSACTION"),
]


@pytest.mark.parametrize(("sql", "what"), DENIED)
def test_denied_statements_read_the_same_on_both_backends(backend, towns, sql, what):
    env = DBBenchEnv(backend)
    env.reset(towns)
    result = env.step(op(sql.replace("{t}", TABLE)))
    expected = f"1227 (42000): Access denied; {what} is not allowed in this benchmark's sandbox"
    assert (result.observation, result.info["action_failed"]) == (expected, True)


@pytest.mark.parametrize("sql", [
    "SELECT 'SET x = 1; LOCK TABLES'", "SELECT `SET` FROM t", "UPDATE t SET a = 1", "SELECT 1 -- ; SET x=1",
    "SELECT 'it''s; XA START'", 'SELECT "a\\"; SET"', "SELECT 1 /* ; SET x = 1 */",
])
def test_check_reads_words_outside_strings_and_comments_only(sql):
    check_statement(sql)  # none of these is refused


def test_heavy_query_stops_at_the_documented_limit(backend, towns):
    heavy = (f"SELECT COUNT(*) FROM {TABLE} a, {TABLE} b, {TABLE} c, {TABLE} d, {TABLE} e, {TABLE} f, {TABLE} g, "
             f"{TABLE} h, {TABLE} i, {TABLE} j, {TABLE} k, {TABLE} l" if backend.name == "mysql" else
             "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT COUNT(*) FROM r")
    env = DBBenchEnv(backend)
    env.reset(towns)
    started = time.monotonic()
    result = env.step(op(heavy))
    elapsed = time.monotonic() - started
    assert (result.observation, result.info["action_failed"]) == (TIMED_OUT, True)
    assert STATEMENT_TIMEOUT_S - 0.05 < elapsed < STATEMENT_TIMEOUT_S + 0.6


@pytest.mark.mysql
def test_turn_budget_covers_a_block_of_slow_statements(mysql_url, towns):
    backend = MySQLBackend(mysql_url)
    try:
        env = DBBenchEnv(backend)
        env.reset(towns)
        started = time.monotonic()
        result = env.step(op("; ".join(["SELECT SLEEP(0.7)"] * 6)))  # each within the statement limit
        elapsed = time.monotonic() - started
        threads = backend._admin_fetch("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = %s",
                                       (backend.run_id,))
        assert (result.observation, result.info["action_failed"]) == (TIMED_OUT, True)
        assert TURN_TIMEOUT_S - 0.05 < elapsed < TURN_TIMEOUT_S + 0.8
        assert threads == [(0,)]  # the block's server thread was killed, not left running
        assert env.step(op("SELECT 41 + 1")).observation == "[(42,)]"
    finally:
        backend.close()


@pytest.mark.mysql
def test_limit_cannot_be_lifted(mysql_url, towns):
    backend = MySQLBackend(mysql_url)
    try:
        env = DBBenchEnv(backend)
        env.reset(towns)
        for sql in ("SET SESSION max_statement_time = 0", "SET @@max_statement_time = 0",
                    "/*!50000 SET max_statement_time = 0 */", "PREPARE s FROM 'SET max_statement_time = 0'"):
            assert env.step(op(sql)).info["action_failed"]
        started = time.monotonic()
        assert env.step(op("SELECT SLEEP(60)")).observation == TIMED_OUT
        assert time.monotonic() - started < STATEMENT_TIMEOUT_S + 0.6
    finally:
        backend.close()


def test_sqlite_translation_counts_against_the_turn(towns):
    backend = SQLiteBackend(turn_timeout_s=0.05)
    backend.open(towns)
    slow_parse = "SELECT 1 FROM " + TABLE + " WHERE " + " OR ".join(f"`Town` = 'a{i}'" for i in range(700))
    started = time.monotonic()
    assert backend.execute(slow_parse) == TIMED_OUT
    assert time.monotonic() - started < 1.0


def test_sqlite_memory_stays_bounded(towns):
    env = DBBenchEnv(SQLiteBackend())
    env.reset(towns)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    five = ", ".join(f"{TABLE} t{i}" for i in range(5))  # 3,125 rows of a 1 MB blob each
    for sql in (f"SELECT zeroblob(999999) FROM {five}", f"SELECT zeroblob(999999) FROM {five} ORDER BY random()",
                f"SELECT group_concat(zeroblob(999999)) FROM {five}", "SELECT '" + "x" * 1_000_000 + "'"):
        check_bounded(env, sql)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 300 * 1024  # KiB


@pytest.mark.mysql
def test_grader_does_not_wait_on_a_lock(mysql_url, city, admin):
    # Someone else holds the episode table (the model can no longer: LOCK TABLES is denied): the grader's hash
    # waits lock_wait_timeout seconds, then the episode fails as the database's fault, not graded.
    task = city("UPDATE", ["UPDATE `Towns of Vell (2020)` SET `Bridges` = '8' WHERE `Town` = 'Bexa';"], "[('x',)]")
    backend = MySQLBackend(mysql_url)
    try:
        env = DBBenchEnv(backend)
        env.reset(task)
        env.step(op(task.label[0]))
        admin.execute(f"LOCK TABLES `{backend._db}`.{TABLE} WRITE")
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable, match="1205"):
            env.step("Done.\nAction: Answer\nFinal Answer: []")
        assert time.monotonic() - started < LOCK_WAIT_TIMEOUT_S + 2
        admin.execute("UNLOCK TABLES")
    finally:
        backend.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sql=RANDOM_SQL)
def test_random_statements_sqlite(towns, sql):
    env = DBBenchEnv(SQLiteBackend())
    env.reset(towns)
    check_bounded(env, sql)
    still_works(env, towns)


@pytest.fixture
def admin(mysql_url):
    url = MySQLURL.parse(mysql_url)
    conn = mysql.connector.connect(host=url.host, port=url.port, user=url.user, password=url.password,
                                   autocommit=True, use_pure=True)
    yield conn.cursor()
    conn.close()


@pytest.fixture
def secret_db(admin):
    admin.execute("CREATE DATABASE IF NOT EXISTS abtune_secret")
    admin.execute("CREATE TABLE IF NOT EXISTS abtune_secret.vault (v TEXT)")
    admin.execute("DELETE FROM abtune_secret.vault")
    admin.execute("INSERT INTO abtune_secret.vault VALUES ('gold')")
    yield admin
    admin.execute("DROP DATABASE abtune_secret")


@pytest.mark.mysql
def test_hostile_statements_mysql_leave_the_server_clean(mysql_url, secret_db, towns):
    backend = MySQLBackend(mysql_url)
    try:
        run_all(DBBenchEnv(backend), towns, HOSTILE)
    finally:
        backend.close()
    secret_db.execute("SELECT v FROM abtune_secret.vault")
    assert secret_db.fetchall() == [("gold",)]  # the other database was neither read nor changed
    secret_db.execute("SHOW DATABASES LIKE 'mysql'")
    assert secret_db.fetchall() == [("mysql",)]
    secret_db.execute("XA RECOVER")
    assert secret_db.fetchall() == []  # no prepared transaction left behind
    secret_db.execute("SELECT IS_USED_LOCK('abt_lock'), @@global.max_statement_time, @@global.max_connections")
    assert secret_db.fetchall() == [(None, 0.0, 200)]
    secret_db.execute("SELECT COUNT(*) FROM mysql.user WHERE User = %s", (backend.run_id,))
    assert secret_db.fetchall() == [(0,)]
    secret_db.execute("SHOW DATABASES LIKE %s", (backend.run_id + "%",))
    assert secret_db.fetchall() == []


@pytest.mark.mysql
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sql=RANDOM_SQL)
def test_random_statements_mysql(mysql_url, towns, sql):
    backend = MySQLBackend(mysql_url)
    try:
        env = DBBenchEnv(backend)
        env.reset(towns)
        check_bounded(env, sql)
        still_works(env, towns)
    finally:
        backend.close()


def test_lock_tables_then_answer_grades_at_once(backend, city):
    # Issue 13: `LOCK TABLES t WRITE` then an answer made the grader's hash wait on the lock for a day.
    rows = [list(r) for r in city().rows]
    rows[1][2] = "8"
    short = sorted(hashlib.md5(",".join(r).encode()).hexdigest()[:5] for r in rows)
    md5 = str([(hashlib.md5(",".join(short).encode()).hexdigest(),)])
    task = city("UPDATE", ["UPDATE `Towns of Vell (2020)` SET `Bridges` = '8' WHERE `Town` = 'Bexa';"], md5)
    env = DBBenchEnv(backend)
    env.reset(task)
    assert env.step(op(f"LOCK TABLES {TABLE} WRITE")).info["action_failed"]
    env.step(op(task.label[0]))
    started = time.monotonic()
    result = env.step("Done.\nAction: Answer\nFinal Answer: []")
    assert (result.info["verdict"], result.info["status"]) == (True, "completed")
    assert time.monotonic() - started < 1.0
