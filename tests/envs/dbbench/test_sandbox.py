"""Sandbox fuzz: hostile and random statements always give a bounded result or error in bounded time;
nothing reaches files or other databases, and the harness keeps running afterwards."""

from __future__ import annotations

import os
import time

import mysql.connector
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentbench_tuning.envs.dbbench import DBBenchEnv, MySQLBackend, SQLiteBackend
from agentbench_tuning.envs.dbbench.hostile import HOSTILE
from agentbench_tuning.envs.dbbench.mysql_backend import MySQLURL

TIMEOUT_S = 1.0
TABLE = "`Towns of Vell (2020)`"
# Random statements: free text plus SQL-looking fragments, so the parser gets past the first token.
SQL_WORDS = st.sampled_from(["SELECT", "FROM", TABLE, "WHERE", "*", "(", ")", ",", "'x'", "1", "UNION", "JOIN",
                             "ORDER BY", "GROUP BY", "SLEEP(5)", ";", "DROP", "INSERT INTO", "VALUES", "`Town`"])
RANDOM_SQL = st.one_of(st.text(max_size=200), st.lists(SQL_WORDS, max_size=15).map(" ".join))


def op(sql: str) -> str:
    return "Trying.\nAction: Operation\n```sql\n" + sql + "\n```"


def check_bounded(env: DBBenchEnv, sql: str) -> None:
    started = time.monotonic()
    result = env.step(op(sql))
    assert time.monotonic() - started < TIMEOUT_S + 5, sql
    assert len(result.observation) <= 800 + len("[TRUNCATED]"), sql
    assert not os.path.exists("/tmp/abtune_escape.txt") and not os.path.exists("/tmp/abtune_escape.db")


def still_works(env: DBBenchEnv) -> None:
    assert env.step(op("SELECT 41 + 1;")).observation in ("[(42,)]",)


def run_all(env: DBBenchEnv, task, statements) -> None:
    env.reset(task)
    for i, sql in enumerate(statements):
        if i and i % 12 == 0:  # keep within 15 rounds; a fresh episode also proves reset still works
            env.reset(task)
        check_bounded(env, sql.replace("{t}", TABLE))
    env.reset(task)
    still_works(env)


def test_hostile_statements_sqlite(towns):
    run_all(DBBenchEnv(SQLiteBackend(timeout_s=TIMEOUT_S)), towns, HOSTILE)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sql=RANDOM_SQL)
def test_random_statements_sqlite(towns, sql):
    env = DBBenchEnv(SQLiteBackend(timeout_s=TIMEOUT_S))
    env.reset(towns)
    check_bounded(env, sql)
    still_works(env)


@pytest.fixture
def secret_db(mysql_url):
    url = MySQLURL.parse(mysql_url)
    conn = mysql.connector.connect(host=url.host, port=url.port, user=url.user, password=url.password,
                                   autocommit=True)
    cur = conn.cursor()
    cur.execute("CREATE DATABASE IF NOT EXISTS abtune_secret")
    cur.execute("CREATE TABLE IF NOT EXISTS abtune_secret.vault (v TEXT)")
    cur.execute("DELETE FROM abtune_secret.vault")
    cur.execute("INSERT INTO abtune_secret.vault VALUES ('gold')")
    yield cur
    cur.execute("DROP DATABASE abtune_secret")
    conn.close()


@pytest.mark.mysql
def test_hostile_statements_mysql(mysql_url, secret_db, towns):
    backend = MySQLBackend(mysql_url, timeout_s=TIMEOUT_S)
    try:
        run_all(DBBenchEnv(backend), towns, HOSTILE)
    finally:
        backend.close()
    secret_db.execute("SELECT v FROM abtune_secret.vault")
    assert secret_db.fetchall() == [("gold",)]  # the other database was neither read nor changed
    secret_db.execute("SHOW DATABASES LIKE 'mysql'")
    assert secret_db.fetchall() == [("mysql",)]


@pytest.mark.mysql
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sql=RANDOM_SQL)
def test_random_statements_mysql(mysql_url, towns, sql):
    backend = MySQLBackend(mysql_url, timeout_s=TIMEOUT_S)
    try:
        env = DBBenchEnv(backend)
        env.reset(towns)
        check_bounded(env, sql)
        still_works(env)
    finally:
        backend.close()
