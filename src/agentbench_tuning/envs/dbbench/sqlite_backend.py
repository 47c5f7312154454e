"""The embedded DB Bench backend: SQLite, an approximation of the MySQL harness for quick runs.

Handled: one in-memory database per episode, columns declared `TEXT COLLATE mysql_ci` (like MySQL's default
collation: case- and accent-insensitive, trailing spaces ignored), MySQL SQL translated with sqlglot, comparisons of a column
with a number made numeric as MySQL does (`CAST(col AS REAL)`), `md5`/`concat_ws`/`concat` functions, and
the v0.2 table hash computed with MySQL's exact semantics (so INSERT/UPDATE hashes equal MariaDB's).
Sandbox: an authorizer denying ATTACH/DETACH, writing pragmas and extension loading; a time limit through
a progress handler; length and row caps. The remaining differences are listed in docs/dbbench.md.

    backend = SQLiteBackend(); backend.open(task); print(backend.execute("SELECT COUNT(*) FROM `t`"))
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
import unicodedata

import sqlglot
from sqlglot import exp
from sqlglot.dialects.sqlite import SQLite

from .task import DBTask

MAX_ROWS = 2000
# sqlglot warns on every statement it parses as an opaque command (model SQL is often broken); the SQLite error
# the model sees already says what went wrong.
logging.getLogger("sqlglot").setLevel(logging.ERROR)
MAX_LENGTH = 1_000_000  # largest string or blob a statement may build
GROUP_CONCAT_MAX_LEN = 1024  # MySQL 8's default, which AgentBench's grader ran with
# printf/format build a huge string inside one opcode (`printf('%.*c', 1e9, 'x')` took 8 s), out of reach of
# the progress handler; the fuzz test found it.
_DENIED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "printf", "format"}


def _md5(value):
    return None if value is None else hashlib.md5(str(value).encode("utf-8")).hexdigest()


def _concat_ws(sep, *values):
    if sep is None:
        return None
    return str(sep).join(str(v) for v in values if v is not None)  # MySQL's CONCAT_WS skips NULLs


def _concat(*values):
    return None if any(v is None for v in values) else "".join(str(v) for v in values)


def _mysql_ci_key(text: str) -> str:
    # utf8mb4_general_ci: case- and accent-insensitive, trailing spaces ignored (PAD SPACE).
    decomposed = unicodedata.normalize("NFKD", text.rstrip(" "))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _mysql_ci(a: str, b: str) -> int:
    ka, kb = _mysql_ci_key(a), _mysql_ci_key(b)
    return (ka > kb) - (ka < kb)


def _authorize(action, arg1, arg2, _db, _trigger):
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and arg2 is not None:  # `PRAGMA x = y` writes; `PRAGMA x` reads
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _numeric_comparisons(node: exp.Expression) -> exp.Expression:
    """MySQL compares a string with a number as doubles ('16' = 16, '?' = 0); SQLite would compare text."""
    if isinstance(node, (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)) and not isinstance(node.parent, exp.Update):
        # (an EQ directly under UPDATE is a SET assignment, not a comparison)
        left, right = node.left, node.right
        if _is_number(right) and isinstance(left, exp.Column):
            node.set("this", exp.cast(left, "REAL"))
        elif _is_number(left) and isinstance(right, exp.Column):
            node.set("expression", exp.cast(right, "REAL"))
    return node


def _is_number(node: exp.Expression) -> bool:
    if isinstance(node, exp.Neg):
        node = node.this
    return isinstance(node, exp.Literal) and not node.is_string


class _BacktickSQLite(SQLite):
    """SQLite output quoting identifiers with backticks: SQLite reads an unknown "double-quoted" identifier as
    a string literal, which would turn a misspelt column into a constant instead of MySQL's error."""

    class Tokenizer(SQLite.Tokenizer):
        IDENTIFIERS = ["`", '"']


def translate(sql: str) -> str:
    """MySQL → SQLite via sqlglot; text that sqlglot cannot parse is passed on for SQLite to reject."""
    try:
        trees = sqlglot.parse(sql, read="mysql")
    except sqlglot.errors.SqlglotError:
        return sql
    out = [t.transform(_numeric_comparisons).sql(dialect=_BacktickSQLite) for t in trees if t is not None]
    out = [s for s in out if s]  # statements sqlglot cannot express in SQLite (SHOW ...) come back empty
    return ";\n".join(out) if out else sql


class SQLiteBackend:
    name = "sqlite"

    def __init__(self, timeout_s: float = 5.0):
        self.timeout_s = timeout_s
        self._conn: sqlite3.Connection | None = None
        self._deadline = 0.0

    def open(self, task: DBTask) -> None:
        self.close_episode()
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        conn.create_collation("mysql_ci", _mysql_ci)
        conn.create_function("md5", 1, _md5, deterministic=True)
        conn.create_function("concat_ws", -1, _concat_ws, deterministic=True)
        conn.create_function("concat", -1, _concat, deterministic=True)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_LENGTH)
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        self._conn = conn
        cols = ",".join(f"{_quote(c)} TEXT COLLATE mysql_ci" for c in task.columns)
        try:
            conn.execute(f"CREATE TABLE {_quote(task.table_name)} ({cols})")
            if task.rows:
                marks = ",".join("(" + ",".join("?" * len(r)) + ")" for r in task.rows)
                conn.execute(f"INSERT INTO {_quote(task.table_name)} VALUES {marks}",
                             [_as_text(v) for r in task.rows for v in r])
        except sqlite3.Error:
            pass  # v0.2 swallows set-up errors (duplicate or empty column names); the episode runs anyway
        conn.set_authorizer(_authorize)
        conn.set_progress_handler(self._interrupt, 10_000)

    def _interrupt(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0

    def execute(self, sql: str) -> str:
        assert self._conn is not None, "open(task) first"
        self._deadline = time.monotonic() + self.timeout_s
        try:
            cur = self._conn.execute(translate(sql))
            rows = cur.fetchmany(MAX_ROWS)
            cur.close()
            return str(rows)
        except sqlite3.Error as err:
            if str(err) == "interrupted":
                return f"Query execution was interrupted (time limit of {self.timeout_s:g} s exceeded)"
            return str(err)
        except (OverflowError, ValueError, MemoryError) as err:
            return str(err)

    def table_hash(self, task: DBTask) -> str:
        """MySQL's `md5(group_concat(substring(md5(concat_ws(',', cols)),1,5) order by ...))`, in Python."""
        assert self._conn is not None, "open(task) first"
        self._deadline = time.monotonic() + 60.0
        cols = ",".join(_quote(c) for c in task.columns)
        try:
            rows = self._conn.execute(f"SELECT {cols} FROM {_quote(task.table_name)}").fetchall()
        except sqlite3.Error as err:
            return str(err)
        hashes = sorted(_md5(_concat_ws(",", *row))[:5] for row in rows)
        joined = ",".join(hashes)[:GROUP_CONCAT_MAX_LEN] if hashes else None
        return str([(_md5(joined),)])

    def close_episode(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        self.close_episode()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _as_text(value):
    # MySQL stores every parameter in a TEXT column as its text; do the same so hashes agree.
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(int(value))
    return str(value)
