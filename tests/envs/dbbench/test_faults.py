"""Fault injection on throwaway MariaDB servers (never the shared one): a killed server, a frozen server,
two runs side by side, and what killed runs leave behind. Infrastructure failures are never grades (issue 13).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mysql.connector
import pytest

from agentbench_tuning.config import Limits, Sampling
from agentbench_tuning.envs.base import EpisodeSpec
from agentbench_tuning.envs.benchmarks import dbbench_score
from agentbench_tuning.envs.dbbench import (
    DatabaseUnavailable,
    DBBenchEnv,
    EnvPool,
    MySQLBackend,
    OracleAgent,
    SQLiteBackend,
    server,
)
from agentbench_tuning.envs.dbbench.generate import DBGenConfig, generate
from agentbench_tuning.envs.dbbench.mysql_backend import MySQLURL
from agentbench_tuning.envs.dbbench.sandbox import ADMIN_READ_TIMEOUT_S, CONNECT_TIMEOUT_S, TURN_TIMEOUT_S
from agentbench_tuning.eval.runner import play_and_record
from agentbench_tuning.eval.stats import status_fractions
from agentbench_tuning.records import RecordWriter, latest_records, read_records
from agentbench_tuning.rollout.scripted import ScriptedGenerator

pytestmark = [pytest.mark.mysql, pytest.mark.skipif(not server.binaries_available(), reason="needs mariadbd")]
OP = "x\nAction: Operation\n```sql\n{}\n```"


@pytest.fixture
def own_server(tmp_path):
    data = tmp_path / "db"
    info = server.start(data)
    yield data, info
    running = server.status(data)  # a test may have restarted it
    for pid in {info.pid, *([running.pid] if running else [])}:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    server.stop(data)


@pytest.fixture(scope="module")
def tasks():
    return [s.task for s in generate(DBGenConfig(n=24, seed=5), SQLiteBackend())]


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)  # our child: reap it, so the port is really closed


def _oracle_run(url: str, tasks, out: Path, kill_at: int | None = None, pid: int | None = None) -> list[dict]:
    """The oracle through the shared runner, one episode at a time; optionally SIGKILL the server when the
    episode of index `kill_at` begins. Returns the run's latest records."""

    class Oracle(OracleAgent):
        def begin(self, task, env):
            if task.index == kill_at:
                _kill(pid)
            super().begin(task, env)

    pool = EnvPool(lambda: MySQLBackend(url))
    specs = [EpisodeSpec(t.index, t, t.type) for t in tasks]
    try:
        with RecordWriter(out / "records.jsonl") as writer:
            play_and_record(ScriptedGenerator(Oracle), pool.make_env, specs, [0], Sampling(), Limits(concurrency=1),
                            writer, ("dbbench", "oracle"))
    finally:
        pool.close()
    return latest_records(out / "records.jsonl")


def test_killed_server_gives_task_errors_never_grades_and_a_rerun_completes(own_server, tasks, tmp_path):
    data, info = own_server
    killed_at = 10
    records = _oracle_run(info.url, tasks, tmp_path, kill_at=killed_at, pid=info.pid)
    by_index = {r["index"]: r for r in records}
    assert all(by_index[i]["success"] and by_index[i]["status"] == "completed" for i in range(killed_at))
    affected = [by_index[i] for i in range(killed_at, len(tasks)) if by_index[i]["status"] == "task error"]
    assert len(affected) >= len(tasks) - killed_at - 1  # the episode in flight may finish without the database
    assert all("DatabaseUnavailable" in r["info"]["error"] for r in affected)
    assert not any(r["status"] != "task error" and not r["success"] for r in records)  # nothing graded wrong
    # The server comes back; the same run plays the task errors again and the oracle scores 100%.
    restarted = server.start(data)
    records = _oracle_run(restarted.url, tasks, tmp_path)
    assert len(records) == len(tasks) and dbbench_score(records)["overall_cat_accuracy"] == 1.0
    assert status_fractions(records) == {"completed": 1.0}
    assert len(list(read_records(tmp_path / "records.jsonl"))) == len(tasks) + len(affected)  # appended, never rewritten


def test_frozen_server_fails_within_the_timeout(own_server, towns):
    data, info = own_server
    backend = MySQLBackend(info.url)
    env = DBBenchEnv(backend)
    env.reset(towns)
    assert env.step(OP.format("SELECT 1")).observation == "[(1,)]"
    os.kill(info.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            env.step(OP.format("SELECT 2"))
        elapsed = time.monotonic() - started
        assert elapsed < TURN_TIMEOUT_S + ADMIN_READ_TIMEOUT_S + 2
        assert env.done  # the episode is over, ungraded
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            env.reset(towns)
        assert time.monotonic() - started < 1.0
        fresh_started = time.monotonic()
        with pytest.raises(DatabaseUnavailable):  # a new backend cannot even connect
            MySQLBackend(info.url)
        assert time.monotonic() - fresh_started < CONNECT_TIMEOUT_S + ADMIN_READ_TIMEOUT_S + 2
        backend.close()
    finally:
        os.kill(info.pid, signal.SIGCONT)


def test_two_concurrent_oracle_runs_on_one_server(own_server, tasks, tmp_path):
    _, info = own_server

    def run(name: str) -> dict:
        records = _oracle_run(info.url, tasks, tmp_path / name)
        return {**dbbench_score(records), "status": status_fractions(records)}

    with ThreadPoolExecutor(2) as pool:
        summaries = list(pool.map(run, ["a", "b"]))
    assert [s["overall_cat_accuracy"] for s in summaries] == [1.0, 1.0]
    assert [s["status"] for s in summaries] == [{"completed": 1.0}] * 2


ORPHAN = """
import json, os, sys
from agentbench_tuning.envs.dbbench import MySQLBackend, load_tasks
backend = MySQLBackend(sys.argv[1])
task = load_tasks(sys.argv[2])[0]
backend.open(task)
db = backend._db
for sql in ("XA START 'orphan'", f"UPDATE `{db}`.`{task.table_name}` SET `{task.columns[0]}` = 'x'",
            "XA END 'orphan'", "XA PREPARE 'orphan'"):
    backend._admin_run(sql)
print(json.dumps({"run": backend.run_id, "db": db}), flush=True)
os._exit(0)  # killed: no clean-up
"""


def _admin(url: str):
    parsed = MySQLURL.parse(url)
    conn = mysql.connector.connect(host=parsed.host, port=parsed.port, user=parsed.user, password=parsed.password,
                                   autocommit=True, use_pure=True)
    return conn, conn.cursor()


def test_killed_runs_leave_nothing_after_db_start(own_server, tasks, tmp_path):
    data, info = own_server
    sample = tmp_path / "one.jsonl"
    sample.write_text(json.dumps({**tasks[0].to_sample(), "answer_md5": tasks[0].answer_md5}) + "\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[3] / "src")}
    done = subprocess.run([sys.executable, "-c", ORPHAN, info.url, str(sample)], capture_output=True, text=True,
                          env=env, timeout=120)
    orphan = json.loads(done.stdout)
    _kill(info.pid)  # the prepared XA transaction survives the restart
    info = server.start(data)  # cleans on start
    conn, cur = _admin(info.url)
    try:
        cur.execute("XA RECOVER")
        assert cur.fetchall() == []
        cur.execute("SELECT COUNT(*) FROM mysql.user WHERE User = %s", (orphan["run"],))
        assert cur.fetchall() == [(0,)]
        cur.execute("SHOW DATABASES LIKE %s", (orphan["db"],))
        assert cur.fetchall() == []
        live = MySQLBackend(info.url)  # a live run keeps its user and database through another clean-up
        live_env = DBBenchEnv(live)
        started = time.monotonic()
        live_env.reset(tasks[1])
        assert time.monotonic() - started < 2.0  # no lock wait on a poisoned database
        server.start(data)
        cur.execute("SELECT COUNT(*) FROM mysql.user WHERE User = %s", (live.run_id,))
        assert cur.fetchall() == [(1,)]
        assert live_env.step(OP.format("SELECT 41 + 1")).observation == "[(42,)]"
        # Without a restart or `db start`, the next backend's start-up cleans a killed run's leftovers too.
        done = subprocess.run([sys.executable, "-c", ORPHAN, info.url, str(sample)], capture_output=True,
                              text=True, env=env, timeout=120)
        second = json.loads(done.stdout)
        fresh = MySQLBackend(info.url)
        assert fresh.cleaned == {"xa_rolled_back": [f"X'{b'orphan'.hex()}',X'',1"],
                                 "users_dropped": [second["run"]], "databases_dropped": [second["db"]]}
        assert live_env.step(OP.format("SELECT 41 + 1")).observation == "[(42,)]"  # the live run is untouched
        fresh.close()
        live.close()
    finally:
        conn.close()
