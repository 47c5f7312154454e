"""DB Bench speed and sandbox numbers: generator throughput, oracle episodes/s on SQLite and on a managed
MariaDB, and a sandbox fuzz run (the hostile list plus random, mutated and disguised-hostile statements) on
both backends: worst time per statement, longest observation, memory high-water mark, escapes, crashes.

    python benchmarks/dbbench_bench.py --n 400 --fuzz 10000
    # -> benchmarks/results/dbbench.json and benchmarks/results/dbbench.md
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import resource
import string
import tempfile
import time
from pathlib import Path

import mysql.connector

from agentbench_tuning.envs.base import EpisodeSpec
from agentbench_tuning.envs.benchmarks import dbbench_score
from agentbench_tuning.envs.dbbench import (
    DBBenchEnv,
    MySQLBackend,
    OracleAgent,
    SQLiteBackend,
    server,
)
from agentbench_tuning.envs.dbbench.generate import DBGenConfig, generate
from agentbench_tuning.envs.dbbench.hostile import HOSTILE
from agentbench_tuning.envs.dbbench.mysql_backend import MySQLURL
from agentbench_tuning.envs.dbbench.sandbox import STATEMENT_TIMEOUT_S, TURN_TIMEOUT_S
from agentbench_tuning.eval.stats import status_fractions
from agentbench_tuning.records import write_json_atomic
from agentbench_tuning.rollout.scripted import play_scripted

RESULTS = Path(__file__).parent / "results"
WORDS = ["SELECT", "FROM", "{t}", "WHERE", "*", "(", ")", ",", "'x'", "1", "UNION", "JOIN", "ORDER BY", "SLEEP(5)",
         ";", "DROP", "INSERT INTO", "VALUES", "GROUP BY", "COUNT(*)", "LIKE '%a%'", "SET", "LOCK", "XA", "/*!",
         "*/", "#", "-- ", "GET_LOCK('a', 0)", "CAST({c} AS DECIMAL(10,2))", "{c}", "AVG({c})", "HANDLER", "'"]
TEMPLATES = ["SELECT {c} FROM {t} WHERE {c} = 'x';", "SELECT COUNT(*) FROM {t} WHERE CAST({c} AS DECIMAL(10,2)) > 5;",
             "SELECT ROUND(AVG(CAST({c} AS DECIMAL(10,2))), 2) FROM {t};", "UPDATE {t} SET {c} = 'y' WHERE {c} = 'x';",
             "INSERT INTO {t} ({c}) VALUES ('z');", "DELETE FROM {t} WHERE {c} LIKE '%a%';",
             "SELECT {c}, COUNT(*) FROM {t} GROUP BY {c} ORDER BY 2 DESC LIMIT 3;"]
DISGUISES = ["{s}", "/**/{s}", "  {s}", "{S}", "/*!50000 {s} */", "SELECT 1; {s}", "{s} -- x", "/*M!100000 {s}*/"]
SECRET = "abtune_fuzz_secret_value"


def _fill(text: str, table: str, columns: list[str], rng: random.Random) -> str:
    return text.replace("{t}", table).replace("{c}", "`" + rng.choice(columns) + "`")


def _mutate(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(0, 3)):
        at = rng.randrange(len(text) + 1)
        text = text[:at] + rng.choice(["", "'", "(", ")", ";", "`", " ", rng.choice(string.printable)]) + text[at + 1:]
    return text


def random_statements(n: int, seed: int, table: str, columns: list[str]) -> list[tuple[str, str]]:
    """(family, statement): printable noise, SQL-word soup, mutated valid SQL, disguised hostile statements."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        family = rng.choice(("noise", "soup", "mutated", "hostile"))
        if family == "noise":
            sql = "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 80)))
        elif family == "soup":
            sql = _fill(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12))), table, columns, rng)
        elif family == "mutated":
            sql = _mutate(_fill(rng.choice(TEMPLATES), table, columns, rng), rng)
        else:
            base = _fill(rng.choice(HOSTILE), table, columns, rng)
            sql = rng.choice(DISGUISES).replace("{S}", base.swapcase()).replace("{s}", base)
        out.append((family, sql))
    return out


def _rss_peak_mib(pid: int | None = None) -> float:
    if pid is None:
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmHWM for pid {pid}")


def fuzz(make_backend, task, statements: list[tuple[str, str]], server_pid: int | None = None) -> dict:
    """Run every statement in a fresh episode every 12 statements; record bounds, escapes and crashes."""
    env = DBBenchEnv(make_backend())
    table = "`" + task.table_name + "`"
    worst_s, worst_sql, longest, failed, escapes, crashes = 0.0, "", 0, 0, [], []
    by_family: dict[str, float] = {}
    for i, (family, sql) in enumerate(statements):
        try:
            if i % 12 == 0:
                env.reset(task)
            started = time.monotonic()
            result = env.step("x\nAction: Operation\n```sql\n" + sql.replace("{t}", table) + "\n```")
            elapsed = time.monotonic() - started
        except Exception as err:  # noqa: BLE001 - counted: a crash is any exception out of the harness
            crashes.append(f"{sql[:80]!r}: {type(err).__name__}: {err}"[:300])
            with contextlib.suppress(Exception):  # leave nothing behind on the server either
                env.backend.close()
            env = DBBenchEnv(make_backend())
            env.reset(task)
            continue
        if elapsed > worst_s:
            worst_s, worst_sql = elapsed, sql[:120]
        by_family[family] = max(by_family.get(family, 0.0), elapsed)
        longest = max(longest, len(result.observation))
        failed += bool(result.info["action_failed"])
        if SECRET in result.observation or os.path.exists("/tmp/abtune_escape.txt") or os.path.exists(
                "/tmp/abtune_escape.db"):
            escapes.append(sql[:120])
    env.reset(task)
    alive = env.step("x\nAction: Operation\n```sql\nSELECT 41 + 1;\n```").observation == "[(42,)]"
    env.backend.close()
    return {"statements": len(statements), "action_failed": failed, "worst_seconds": round(worst_s, 3),
            "worst_statement": worst_sql, "worst_seconds_by_family": {k: round(v, 3) for k, v in by_family.items()},
            "longest_observation_chars": longest, "memory_high_water_mib": _rss_peak_mib(server_pid),
            "memory_of": "mariadbd VmHWM" if server_pid else "this process (max RSS)",
            "escapes": len(escapes), "escape_examples": escapes[:5], "crashes": len(crashes),
            "crash_examples": crashes[:5], "harness_alive_after": alive,
            "statement_limit_s": STATEMENT_TIMEOUT_S, "turn_limit_s": TURN_TIMEOUT_S}


def _admin(url: str):
    parsed = MySQLURL.parse(url)
    conn = mysql.connector.connect(host=parsed.host, port=parsed.port, user=parsed.user, password=parsed.password,
                                   autocommit=True, use_pure=True)
    return conn, conn.cursor()


def server_state(cur) -> dict:
    """What a later run would inherit: the secret table, prepared XA, global limits, leftover sandbox names."""
    cur.execute("SELECT v FROM abtune_secret.vault")
    secret = cur.fetchall()
    cur.execute("XA RECOVER")
    xa = cur.fetchall()
    cur.execute("SELECT @@global.max_statement_time, @@global.max_connections")
    limits = cur.fetchall()[0]
    cur.execute("SELECT COUNT(*) FROM mysql.user WHERE User LIKE 'abt\\_%'")
    users = cur.fetchall()[0][0]
    cur.execute("SHOW DATABASES LIKE 'abt\\_%'")
    dbs = len(cur.fetchall())
    return {"secret_intact": secret == [(SECRET,)], "prepared_xa": len(xa), "global_max_statement_time": limits[0],
            "global_max_connections": limits[1], "leftover_sandbox_users": users, "leftover_episode_databases": dbs}


def oracle_rate(backend, tasks) -> dict:
    started = time.perf_counter()
    env = DBBenchEnv(backend)
    records = play_scripted(OracleAgent, lambda: env, [EpisodeSpec(t.index, t, t.type) for t in tasks], concurrency=1)
    summary = {**dbbench_score(records), "status": status_fractions(records)}
    seconds = time.perf_counter() - started
    return {"episodes": len(tasks), "seconds": round(seconds, 3), "episodes_per_s": round(len(tasks) / seconds, 1),
            "overall_cat_accuracy": summary["overall_cat_accuracy"], "status": summary["status"]}


def run_mysql(results: dict, tasks, statements) -> None:
    with tempfile.TemporaryDirectory() as data:
        info = server.start(data)
        try:
            started = time.perf_counter()
            mysql_backend = MySQLBackend(info.url)
            mysql_gen = generate(DBGenConfig(n=100, seed=1), mysql_backend)
            results["generator_mysql"] = {"samples": len(mysql_gen),
                                          "samples_per_s": round(len(mysql_gen) / (time.perf_counter() - started), 1)}
            results["oracle"]["mysql"] = oracle_rate(mysql_backend, tasks)
            mysql_backend.close()
            conn, cur = _admin(info.url)
            cur.execute("CREATE DATABASE abtune_secret")
            cur.execute("CREATE TABLE abtune_secret.vault (v TEXT)")
            cur.execute("INSERT INTO abtune_secret.vault VALUES (%s)", (SECRET,))
            results["fuzz"]["mysql"] = fuzz(lambda: MySQLBackend(info.url), tasks[0], statements, info.pid)
            results["fuzz"]["mysql"]["server_after"] = server_state(cur)
            conn.close()
        finally:
            server.stop(data)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--fuzz", type=int, default=10_000)
    args = parser.parse_args()
    started = time.perf_counter()
    samples = generate(DBGenConfig(n=args.n, seed=0), SQLiteBackend())
    gen_s = time.perf_counter() - started
    tasks = [s.task for s in samples]
    statements = [("hostile-list", s) for s in HOSTILE]
    statements += random_statements(args.fuzz, seed=0, table="`" + tasks[0].table_name + "`", columns=tasks[0].columns)
    results = {"machine": platform.processor() or platform.machine(), "python": platform.python_version(),
               "cpus": os.cpu_count(), "load_average_at_start": os.getloadavg(),
               "generator": {"samples": len(tasks), "seconds": round(gen_s, 3),
                             "samples_per_s": round(len(tasks) / gen_s, 1), "backend": "sqlite"},
               "oracle": {"sqlite": oracle_rate(SQLiteBackend(), tasks)},
               "fuzz": {"sqlite": fuzz(SQLiteBackend, tasks[0], statements)}}
    run_mysql(results, tasks, statements)
    results["load_average_at_end"] = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    write_json_atomic(RESULTS / "dbbench.json", results)
    lines = ["# DB Bench benchmark", "", f"`python benchmarks/dbbench_bench.py --n {args.n} --fuzz {args.fuzz}`", "",
             f"- generator (sqlite): {results['generator']['samples_per_s']} samples/s ({len(tasks)} samples)",
             f"- generator (mysql): {results['generator_mysql']['samples_per_s']} samples/s (100 samples)"]
    for name, r in results["oracle"].items():
        lines.append(f"- oracle on {name}: {r['episodes_per_s']} episodes/s, overall_cat_accuracy "
                     f"{r['overall_cat_accuracy']}, status {r['status']}")
    for name, r in results["fuzz"].items():
        lines.append(f"- fuzz on {name}: {r['statements']} statements ({r['action_failed']} SQL errors), worst "
                     f"{r['worst_seconds']} s (limits: statement {r['statement_limit_s']} s, turn "
                     f"{r['turn_limit_s']} s), longest observation {r['longest_observation_chars']} chars, memory "
                     f"high-water {r['memory_high_water_mib']} MiB ({r['memory_of']}), escapes {r['escapes']}, "
                     f"crashes {r['crashes']}, harness alive: {r['harness_alive_after']}")
    lines.append(f"- MariaDB after the fuzz run: {results['fuzz']['mysql']['server_after']}")
    lines.append(f"- load average at start {results['load_average_at_start']}, at end {results['load_average_at_end']} "
                 f"({results['cpus']} CPUs, shared)")
    (RESULTS / "dbbench.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
