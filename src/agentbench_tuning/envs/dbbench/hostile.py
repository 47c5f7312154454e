"""Hostile SQL for the sandbox tests and the fuzz benchmark: escapes, resource exhaustion, other databases, and
attempts to lift the time limit or leave locks and transactions behind (issue 13's probes).

`{t}` is replaced by the episode's backquoted table name.
"""

from __future__ import annotations

ESCAPES = (
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
    "KILL CONNECTION_ID()",
    "ATTACH DATABASE '/tmp/abtune_escape.db' AS x",
    "DETACH DATABASE main",
    "PRAGMA writable_schema = 1",
    "PRAGMA journal_mode = OFF",
    "SELECT load_extension('/tmp/evil')",
    "VACUUM INTO '/tmp/abtune_escape.db'",
    "SELECT * FROM sqlite_master",
    "DROP DATABASE IF EXISTS `abtune_secret`",
)
# Each must end as a bounded error (or result) within the turn limit, and leave nothing behind.
LIMIT_LIFTERS = (
    "SET SESSION max_statement_time = 0",
    "SET @@session.max_statement_time = 0",
    "SET STATEMENT max_statement_time=0 FOR SELECT SLEEP(60)",
    "/*!50000 SET max_statement_time = 0 */",
    "/*M!100000 SET max_statement_time = 0 */",
    "PREPARE s FROM 'SET max_statement_time = 0'",
    "EXECUTE IMMEDIATE 'SET max_statement_time = 0'",
    "BEGIN NOT ATOMIC SET @@max_statement_time = 0; SELECT SLEEP(60); END",
    "WHILE 1 DO SELECT SLEEP(1); END WHILE",
    "CREATE PROCEDURE p() SET max_statement_time = 0",
    "CREATE TRIGGER tr BEFORE INSERT ON {t} FOR EACH ROW SET NEW.`Town` = 'x'",
    "SELECT SLEEP(60)",
    "; ".join(["SELECT SLEEP(4)"] * 10),
    "SELECT BENCHMARK(100000000000, MD5('x'))",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT COUNT(*) FROM r",
    "SELECT COUNT(*) FROM {t} a, {t} b, {t} c, {t} d, {t} e, {t} f, {t} g, {t} h, {t} i, {t} j, {t} k",
    "SELECT a.*, b.*, c.* FROM {t} a, {t} b, {t} c",
)
LOCKERS = (
    "LOCK TABLES {t} WRITE",
    "LOCK TABLE {t} READ",
    "XA START 'abt'",
    "XA START 'abt'; UPDATE {t} SET `Town` = 'x'; XA END 'abt'; XA PREPARE 'abt'",
    "HANDLER {t} OPEN",
    "SELECT GET_LOCK('abt_lock', 0)",
    "DO GET_LOCK('abt_lock', 0)",
    "START TRANSACTION",
    "BEGIN",
    "SAVEPOINT s",
    "SELECT * FROM {t} FOR UPDATE",
    "FLUSH TABLES WITH READ LOCK",
    "CALL p()",
)
EXHAUSTION = (
    "SELECT REPEAT('x', 100000000)",
    "SELECT zeroblob(1000000000)",
    "SELECT zeroblob(999999) FROM {t} a, {t} b, {t} c, {t} d, {t} e",
    "SELECT printf('%.*c', 1000000000, 'x')",
    "CREATE TABLE big AS SELECT a.* FROM {t} a, {t} b",
    "SELECT '" + "x" * 1_000_000 + "'",
    "SELECT 1 FROM {t} WHERE " + " OR ".join(f"`Town` = 'a{i}'" for i in range(1500)),
    "SELECT " + "(" * 3000 + "1" + ")" * 3000,
    "SELECT 1; DROP TABLE {t}",
    "SELECT 1; SELECT a.* FROM {t} a, {t} b, {t} c, {t} d, {t} e",  # a later result over the row cap
    "DROP TABLE {t}",
    "SELECT 'unterminated",
    "\x00\x01\x02 SELECT",
    "",
)
HOSTILE = ESCAPES + LIMIT_LIFTERS + LOCKERS + EXHAUSTION
