"""The DB Bench sandbox contract shared by both backends: the limits model SQL runs under, the statements it
may not run, and the two ways running a statement can fail.

- `SQLError`: the statement failed; `str(err)` is the observation the model sees, in mysql-connector's
  `errno (sqlstate): message` form. `DBBenchEnv.step` shows it and sets `info["action_failed"] = True`.
- `DatabaseUnavailable`: the database itself failed (connection lost, server gone or frozen, client timeout).
  It is never graded: it propagates out of `DBBenchEnv.step` and the runner records the episode as `task error`.

    check_statement("SET SESSION max_statement_time = 0")  # raises SQLError(1227 ...)
"""

from __future__ import annotations

import re

# The one place the limits are stated (docs/dbbench.md quotes them). v0.2 had no limits; the benchmark's own
# statements take milliseconds on its 7-105 row tables.
STATEMENT_TIMEOUT_S = 1.0  # each statement (MariaDB max_statement_time; SQLite progress handler)
TURN_TIMEOUT_S = 2.0  # one model block, all its statements and (SQLite) the translation included
MAX_SQL_CHARS = 16_384  # longer blocks are refused before they are parsed
CONNECT_TIMEOUT_S = 5  # client connect timeout (mysql-connector `connection_timeout`)
ADMIN_READ_TIMEOUT_S = 10  # client read/write timeout of set-up, grading and clean-up queries
LOCK_WAIT_TIMEOUT_S = 5  # server-side lock waits of those queries (lock_wait_timeout, innodb_lock_wait_timeout)

TIMED_OUT = "1969 (70100): Query execution was interrupted (max_statement_time exceeded)"  # MariaDB's own text
# What mysql-connector-python 8.0.33 (v0.2's client) said when v0.2 committed after a multi-statement block.
OUT_OF_SYNC = "Commands out of sync; you can't run this command now"
TOO_LONG = f"1105 (HY000): SQL block longer than {MAX_SQL_CHARS} characters; this benchmark's sandbox refuses it"


class SQLError(Exception):
    """A statement failed; `str(err)` is the MySQL-format text the model sees.

    `exact` is False when the SQLite backend could not reproduce MySQL's wording for this error."""

    def __init__(self, text: str, exact: bool = True):
        super().__init__(text)
        self.exact = exact


class DatabaseUnavailable(Exception):
    """The database failed, not the model's SQL: the episode must not be graded."""


# First keywords of statements that change session or transaction state, take locks that outlive a statement,
# or run compound/prepared code (which could contain any of those).
_DENIED_STATEMENTS = {
    "SET": "SET", "LOCK": "LOCK TABLES", "UNLOCK": "UNLOCK TABLES", "XA": "XA", "HANDLER": "HANDLER",
    "PREPARE": "PREPARE", "EXECUTE": "EXECUTE", "DEALLOCATE": "DEALLOCATE", "BEGIN": "BEGIN",
    "START": "START TRANSACTION", "SAVEPOINT": "SAVEPOINT", "RELEASE": "RELEASE", "KILL": "KILL", "CALL": "CALL",
    "DECLARE": "DECLARE", "IF": "IF", "WHILE": "WHILE", "REPEAT": "REPEAT", "LOOP": "LOOP", "FOR": "FOR",
    "CASE": "CASE", "FLUSH": "FLUSH", "RESET": "RESET", "BACKUP": "BACKUP", "INSTALL": "INSTALL",
    "UNINSTALL": "UNINSTALL", "SHUTDOWN": "SHUTDOWN", "GRANT": "GRANT", "REVOKE": "REVOKE",
}
# Functions that take or wait on locks held across statements, anywhere in a statement.
_DENIED_FUNCTIONS = {"GET_LOCK", "RELEASE_LOCK", "RELEASE_ALL_LOCKS", "MASTER_POS_WAIT", "MASTER_GTID_WAIT",
                     "SOURCE_POS_WAIT"}
_WORD = re.compile(r"[A-Za-z0-9_$]+")
_VERSION = re.compile(r"M?!\d{0,6}")


def _code_words(sql: str) -> list[list[str]]:
    """Upper-cased words outside strings, quoted identifiers and comments, per `;`-separated statement.

    MySQL's executable comments (`/*! ... */`, `/*M!100000 ... */`) are code, so their words count."""
    statements: list[list[str]] = [[]]
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"`":
            i = _skip_quoted(sql, i)
        elif c == "#" or (sql.startswith("--", i) and (i + 2 >= n or sql[i + 2] <= " ")):
            end = sql.find("\n", i)
            i = n if end < 0 else end
        elif sql.startswith("/*", i):
            marker = _VERSION.match(sql, i + 2)
            if marker and marker.group():
                i = marker.end()  # executable comment: its body is code; the closing */ is skipped below
            else:
                end = sql.find("*/", i + 2)
                i = n if end < 0 else end + 2
        elif sql.startswith("*/", i):
            i += 2
        elif c == ";":
            statements.append([])
            i += 1
        else:
            word = _WORD.match(sql, i)
            if word:
                statements[-1].append(word.group().upper())
                i = word.end()
            else:
                i += 1
    return [s for s in statements if s]


def _skip_quoted(sql: str, start: int) -> int:
    quote, i, n = sql[start], start + 1, len(sql)
    while i < n:
        if sql[i] == "\\" and quote != "`":
            i += 2
        elif sql[i] == quote:
            if i + 1 < n and sql[i + 1] == quote:  # a doubled quote is an escaped quote
                i += 2
            else:
                return i + 1
        else:
            i += 1
    return n


def check_statement(sql: str) -> None:
    """Raise `SQLError` (MySQL format, the same on both backends) if the sandbox refuses this block."""
    if len(sql) > MAX_SQL_CHARS:
        raise SQLError(TOO_LONG)
    for words in _code_words(sql):
        what = _DENIED_STATEMENTS.get(words[0])
        if what is None:
            what = next((f"{w}()" for w in words if w in _DENIED_FUNCTIONS), None)
        if what is not None:
            raise SQLError(f"1227 (42000): Access denied; {what} is not allowed in this benchmark's sandbox")
