"""Differential check against the client v0.2 used: run the same statements through a re-implementation of
v0.2's `Container.execute` on mysql-connector-python 8.0.33 (installed by you into a separate directory) and
through our `MySQLBackend`, on one managed MariaDB, and compare every observation and the final table hash.

    pip install --no-deps --target /tmp/mc8033 mysql-connector-python==8.0.33
    python benchmarks/dbbench_reference_check.py --connector /tmp/mc8033
    # -> benchmarks/results/dbbench_reference_check.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from agentbench_tuning.envs.dbbench import DBTask, MySQLBackend, server
from agentbench_tuning.envs.dbbench.grade import cut_result, hash_query
from agentbench_tuning.eval.records import write_json_atomic

T = "`Towns of Vell (2020)`"
STATEMENTS = [
    f"SELECT * FROM {T}", f"SELECT COUNT(*) FROM {T}", f"SELECT AVG(`Bridges`) FROM {T}",
    f"SELECT SUM(`Bridges`) FROM {T}", f"SELECT MAX(`Bridges`) FROM {T}", f"SELECT `Town` FROM {T} WHERE `No.` = 2",
    f"SELECT `Town` FROM {T} WHERE `Town` = 'arlo'", f"SELECT `Town` FROM {T} WHERE `Bridges` > 8 ORDER BY `Bridges`",
    f"SELECT * FROM {T} WHERE `Town` = 'nowhere'", f"SELECT CAST(`Bridges` AS DECIMAL(10,2)) FROM {T} LIMIT 2",
    f"SELECT ROUND(AVG(CAST(`Bridges` AS DECIMAL(10,2))), 2) FROM {T}", "SELECT NULL, 1.5, 'x', 2",
    "SHOW TABLES", f"DESCRIBE {T}", "SELECT nonsense FROM", f"SELECT `Nope` FROM {T}", "SELECT * FROM `missing`",
    f"UPDATE {T} SET `Founded` = 'unknown' WHERE `No.` < 3", f"INSERT INTO {T} VALUES ('6', 'Fenn', '4', 'May 1, 2001')",
    f"DELETE FROM {T} WHERE `Town` = 'Bexa'", f"SELECT a.*, b.* FROM {T} a, {T} b",
    f"SELECT COUNT(*) FROM {T}; DELETE FROM {T} WHERE `No.` = '1'", f"SELECT COUNT(*) FROM {T}",
    f"UPDATE {T} SET `Town` = 'X'; SELECT 1", f"SELECT `Town` FROM {T}", "CREATE TABLE extra (a TEXT); SELECT 1",
    "SHOW TABLES", f"UPDATE {T} SET `Bridges` = '0' WHERE `No.` = 0", f"SELECT * FROM {T} WHERE `No.` = 0",
    f"SELECT `Town` FROM {T} WHERE `Town` LIKE 'c%'", "SELECT 'unterminated", "",
    f"SELECT GROUP_CONCAT(`Town`) FROM {T}", f"SELECT DISTINCT `Founded` FROM {T}",
]
TASK = DBTask(0, "q", "d", "UPDATE", "Towns of Vell (2020)", ["No.", "Town", "Bridges", "Founded"],
              [["1", "Arlo", "12", "March 3, 1901"], ["2", "Bexa", "7", "May 9, 1877"],
               ["3", "Cor d'Ine", "30", "June 1, 1950"], ["?", "Elsby", "3", "April 2, 1999"]], [])

# v0.2's Container.execute and build_init_sql, re-typed (run under the old connector in a subprocess).
REFERENCE = r'''
import json, sys
import mysql.connector
cfg = json.loads(sys.argv[1])
conn = mysql.connector.connect(host="127.0.0.1", port=cfg["port"], user=cfg["user"], password=cfg["password"],
                               pool_reset_session=True)
def execute(sql, database=None, data=()):
    conn.reconnect()
    try:
        with conn.cursor() as cursor:
            if database:
                cursor.execute(f"use `{database}`;")
                cursor.fetchall()
            cursor.execute(sql, data, multi=True)
            result = cursor.fetchall()
            result = str(result)
        conn.commit()
    except Exception as e:
        result = str(e)
    if len(result) > 800:
        result = result[:800] + "[TRUNCATED]"
    return result
name, cols, rows = cfg["table"], cfg["columns"], cfg["rows"]
columns = ",".join(f"`{c}` TEXT" for c in cols)
names = ",".join(f"`{c}`" for c in cols)
items = ",".join("(" + ",".join(["%s"] * len(r)) + ")" for r in rows)
data = tuple(v for r in rows for v in r)
init = f"CREATE DATABASE IF NOT EXISTS `{name}`;\nUSE `{name}`;\nCREATE TABLE IF NOT EXISTS `{name}` ({columns});\nINSERT INTO `{name}` ({names}) VALUES {items}; \nCOMMIT;\n"
execute(init, data=data)
# v0.2's set-up commit races with the first model statement (seen: the first SELECT sees an empty table);
# wait it out here, since our harness always finishes the set-up first.
import time; time.sleep(0.5)
out = [execute(s, name) for s in cfg["statements"]]
out.append(execute(cfg["hash"], name))
execute(f"drop database `{name}`")
print(json.dumps(out))
'''


def reference(connector: str, url_parts, task: DBTask, statements: list[str]) -> list[str]:
    cfg = {"port": url_parts.port, "user": url_parts.user, "password": url_parts.password, "table": task.table_name,
           "columns": task.columns, "rows": task.rows, "statements": statements,
           "hash": hash_query(task.columns, task.table_name)}
    env = {**os.environ, "PYTHONPATH": connector}
    done = subprocess.run([sys.executable, "-c", REFERENCE, json.dumps(cfg)], capture_output=True, text=True,
                          env=env, check=True)
    return json.loads(done.stdout)


def ours(url: str, task: DBTask, statements: list[str]) -> list[str]:
    backend = MySQLBackend(url)
    try:
        backend.open(task)
        out = [cut_result(backend.execute(s)) for s in statements]
        out.append(backend.table_hash(task))
        backend.close_episode()
    finally:
        backend.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connector", required=True, help="directory holding mysql-connector-python 8.0.33")
    args = parser.parse_args()
    from agentbench_tuning.envs.dbbench.mysql_backend import MySQLURL

    with tempfile.TemporaryDirectory() as data:
        info = server.start(data)
        try:
            ref = reference(args.connector, MySQLURL.parse(info.url), TASK, STATEMENTS)
            got = ours(info.url, TASK, STATEMENTS)
        finally:
            server.stop(data)
    rows = [{"sql": s, "v0.2": r, "ours": o, "same": r == o}
            for s, r, o in zip([*STATEMENTS, "<table hash>"], ref, got, strict=True)]
    result = {"statements": len(rows), "identical": sum(r["same"] for r in rows), "rows": rows}
    Path(__file__).parent.joinpath("results").mkdir(exist_ok=True)
    write_json_atomic(Path(__file__).parent / "results" / "dbbench_reference_check.json", result)
    for r in rows:
        print("OK  " if r["same"] else "DIFF", r["sql"][:60], "|", r["v0.2"][:70], "|", "" if r["same"] else r["ours"][:70])
    print(f"{result['identical']} of {result['statements']} observations identical")


if __name__ == "__main__":
    main()
