"""DB Bench speed and sandbox numbers: generator throughput, oracle episodes/s on SQLite and on a managed
MariaDB, and a sandbox fuzz run (hostile list + random statements) on both backends.

    python benchmarks/dbbench_bench.py --n 400 --fuzz 500
    # -> benchmarks/results/dbbench.json and benchmarks/results/dbbench.md
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import string
import tempfile
import time
from pathlib import Path

from agentbench_tuning.envs.dbbench import (
    DBBenchEnv,
    MySQLBackend,
    SQLiteBackend,
    evaluate,
    oracle_agent,
    server,
)
from agentbench_tuning.envs.dbbench.generate import GenConfig, generate
from agentbench_tuning.envs.dbbench.hostile import HOSTILE
from agentbench_tuning.eval.records import write_json_atomic

RESULTS = Path(__file__).parent / "results"
WORDS = [
    "SELECT",
    "FROM",
    "{t}",
    "WHERE",
    "*",
    "(",
    ")",
    ",",
    "'x'",
    "1",
    "UNION",
    "JOIN",
    "ORDER BY",
    "SLEEP(5)",
    ";",
    "DROP",
    "INSERT INTO",
    "VALUES",
    "GROUP BY",
    "COUNT(*)",
    "LIKE '%a%'",
]


def random_statements(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            out.append("".join(rng.choice(string.printable) for _ in range(rng.randint(0, 80))))
        else:
            out.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12))))
    return out


def fuzz(backend, task, statements: list[str], timeout_s: float) -> dict:
    env = DBBenchEnv(backend)
    worst_s, longest, errors = 0.0, 0, 0
    for i, sql in enumerate(statements):
        if i % 12 == 0:
            env.reset(task)
        started = time.monotonic()
        obs = env.step(
            "x\nAction: Operation\n```sql\n" + sql.replace("{t}", "`" + task.table_name + "`") + "\n```"
        ).observation
        worst_s = max(worst_s, time.monotonic() - started)
        longest = max(longest, len(obs))
        errors += not obs.startswith("[")
    env.reset(task)
    alive = env.step("x\nAction: Operation\n```sql\nSELECT 41 + 1;\n```").observation == "[(42,)]"
    return {
        "statements": len(statements),
        "error_results": errors,
        "worst_seconds": round(worst_s, 3),
        "longest_observation_chars": longest,
        "harness_alive_after": alive,
        "statement_timeout_s": timeout_s,
    }


def oracle_rate(backend, tasks) -> dict:
    started = time.perf_counter()
    summary = evaluate(tasks, DBBenchEnv(backend), oracle_agent, tempfile.mkdtemp())
    seconds = time.perf_counter() - started
    return {
        "episodes": len(tasks),
        "seconds": round(seconds, 3),
        "episodes_per_s": round(len(tasks) / seconds, 1),
        "overall_cat_accuracy": summary["overall_cat_accuracy"],
        "status": summary["status"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--fuzz", type=int, default=500)
    args = parser.parse_args()
    started = time.perf_counter()
    samples = generate(GenConfig(n=args.n, seed=0), SQLiteBackend())
    gen_s = time.perf_counter() - started
    tasks = [s.task for s in samples]
    statements = list(HOSTILE) + random_statements(args.fuzz, seed=0)
    results = {
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "generator": {
            "samples": len(tasks),
            "seconds": round(gen_s, 3),
            "samples_per_s": round(len(tasks) / gen_s, 1),
            "backend": "sqlite",
        },
        "oracle": {"sqlite": oracle_rate(SQLiteBackend(), tasks)},
        "fuzz": {"sqlite": fuzz(SQLiteBackend(timeout_s=1.0), tasks[0], statements, 1.0)},
    }
    with tempfile.TemporaryDirectory() as data:
        info = server.start(data)
        try:
            started = time.perf_counter()
            mysql = MySQLBackend(info.url)
            mysql_gen = generate(GenConfig(n=100, seed=1), mysql)
            results["generator_mysql"] = {
                "samples": len(mysql_gen),
                "samples_per_s": round(len(mysql_gen) / (time.perf_counter() - started), 1),
            }
            results["oracle"]["mysql"] = oracle_rate(mysql, tasks)
            mysql.close()
            fuzz_backend = MySQLBackend(info.url, timeout_s=1.0)
            results["fuzz"]["mysql"] = fuzz(fuzz_backend, tasks[0], statements, 1.0)
            fuzz_backend.close()
        finally:
            server.stop(data)
    RESULTS.mkdir(exist_ok=True)
    write_json_atomic(RESULTS / "dbbench.json", results)
    lines = [
        "# DB Bench benchmark",
        "",
        f"`python benchmarks/dbbench_bench.py --n {args.n} --fuzz {args.fuzz}`",
        "",
        f"- generator (sqlite): {results['generator']['samples_per_s']} samples/s ({len(tasks)} samples)",
        f"- generator (mysql): {results['generator_mysql']['samples_per_s']} samples/s (100 samples)",
    ]
    for name, r in results["oracle"].items():
        lines.append(
            f"- oracle on {name}: {r['episodes_per_s']} episodes/s, overall_cat_accuracy "
            f"{r['overall_cat_accuracy']}, status {r['status']}"
        )
    for name, r in results["fuzz"].items():
        lines.append(
            f"- fuzz on {name}: {r['statements']} statements, worst {r['worst_seconds']} s, longest "
            f"observation {r['longest_observation_chars']} chars, harness alive: {r['harness_alive_after']}"
        )
    (RESULTS / "dbbench.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
