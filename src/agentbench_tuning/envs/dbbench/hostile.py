"""Hostile SQL for the sandbox fuzz test and benchmark: escapes, resource exhaustion, other databases.

`{t}` is replaced by the episode's backquoted table name.
"""

from __future__ import annotations

HOSTILE = (
    "SELECT SLEEP(100)",
    "SELECT BENCHMARK(100000000000, MD5('x'))",
    "SELECT LOAD_FILE('/etc/passwd')",
    "SELECT * FROM {t} INTO OUTFILE '/tmp/abtune_escape.txt'",
    "LOAD DATA INFILE '/etc/passwd' INTO TABLE {t}",
    "DROP DATABASE mysql",
    "SELECT * FROM mysql.user",
    "SELECT * FROM abtune_secret.vault",
    "UPDATE abtune_secret.vault SET v = 'pwned'",
    "CREATE USER evil IDENTIFIED BY 'x'",
    "GRANT ALL ON *.* TO CURRENT_USER",
    "SET GLOBAL max_connections = 1",
    "SHUTDOWN",
    "KILL 1",
    "SELECT 1; DROP TABLE {t}",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT COUNT(*) FROM r",
    "SELECT COUNT(*) FROM {t} a, {t} b, {t} c, {t} d, {t} e, {t} f, {t} g, {t} h, {t} i, {t} j, {t} k",
    "SELECT a.*, b.*, c.* FROM {t} a, {t} b, {t} c",
    "SELECT REPEAT('x', 100000000)",
    "SELECT zeroblob(1000000000)",
    "SELECT printf('%.*c', 1000000000, 'x')",
    "ATTACH DATABASE '/tmp/abtune_escape.db' AS x",
    "DETACH DATABASE main",
    "PRAGMA writable_schema = 1",
    "PRAGMA journal_mode = OFF",
    "SELECT load_extension('/tmp/evil')",
    "VACUUM INTO '/tmp/abtune_escape.db'",
    "SELECT * FROM sqlite_master",
    "DROP TABLE {t}",
    "DROP DATABASE IF EXISTS `abtune_secret`",
    "CREATE TABLE big AS SELECT a.* FROM {t} a, {t} b",
    "SELECT 'unterminated",
    "\x00\x01\x02 SELECT",
    "",
)
