"""The embedded DB Bench backend: SQLite, printing what MySQL/MariaDB prints for the benchmark's statements.

Handled: one in-memory database per episode, columns declared `TEXT COLLATE mysql_ci` (like MySQL's default
collation: case- and accent-insensitive, trailing spaces ignored), MySQL SQL translated with sqlglot, comparisons
of a column with a number made numeric as MySQL does (`CAST(col AS REAL)`), DECIMAL casts and rounding done
exactly (`sqlite_mysql`), results printed with MySQL's types (`Decimal('6.00')`, ints from COUNT) and errors
in MySQL's wording (`1054 (42S22): Unknown column 'x' in 'SELECT'`), a block of several statements handled as
the MySQL backend does, and the v0.2 table hash computed with MySQL's exact semantics.
Sandbox: the shared statement check (`sandbox.check_statement`), an authorizer denying ATTACH/DETACH, writing
pragmas and extension loading; one time budget per block covering translation and execution; caps on SQL
length, string length, result characters and (process-wide) SQLite heap. `inexact` lists this episode's
observations that may differ from MariaDB's; the remaining differences are in docs/dbbench.md.

    backend = SQLiteBackend(); backend.open(task); print(backend.run("SELECT COUNT(*) FROM `t`"))
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

from .sandbox import (
    MAX_SQL_CHARS,
    OUT_OF_SYNC,
    STATEMENT_TIMEOUT_S,
    TIMED_OUT,
    TURN_TIMEOUT_S,
    SQLError,
    check_statement,
)
from .sqlite_mysql import (
    mysql_decimal,
    mysql_error,
    mysql_round_decimal,
    result_kinds,
    rewrite_decimals,
    to_mysql,
)
from .task import DBTask

MAX_ROWS = 2000
# sqlglot warns on every statement it parses as an opaque command (model SQL is often broken); the SQLite error
# the model sees already says what went wrong.
logging.getLogger("sqlglot").setLevel(logging.ERROR)
MAX_LENGTH = 1_000_000  # largest string or blob a statement may build
MAX_RESULT_CHARS = 65_536  # a result is printed up to here (the model sees 800 characters of it)
# SQLite's heap limit is process-wide: it bounds every episode's sorts and temporary results together.
HARD_HEAP_LIMIT_BYTES = 512 * 2**20
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


def translate_statements(sql: str) -> list[tuple[exp.Expression | None, str]]:
    """MySQL → SQLite via sqlglot, per statement: (the MySQL tree, the SQLite text). Text that sqlglot cannot
    parse is passed on whole, for SQLite to reject."""
    try:
        trees = [t for t in sqlglot.parse(sql, read="mysql") if t is not None]
    except (sqlglot.errors.SqlglotError, RecursionError):
        return [(None, sql)]
    out = []
    for tree in trees:
        text = rewrite_decimals(tree.transform(_numeric_comparisons)).sql(dialect=_BacktickSQLite)
        if text:  # statements sqlglot cannot express in SQLite (SHOW ...) come back empty
            out.append((tree, text))
    return out or [(None, sql)]


def translate(sql: str) -> str:
    return ";\n".join(text for _, text in translate_statements(sql))


_DDL = (exp.Create, exp.Drop, exp.Alter, exp.TruncateTable)


class SQLiteBackend:
    name = "sqlite"

    def __init__(self, timeout_s: float = STATEMENT_TIMEOUT_S, turn_timeout_s: float = TURN_TIMEOUT_S):
        self.timeout_s = timeout_s
        self.turn_timeout_s = turn_timeout_s
        self._conn: sqlite3.Connection | None = None
        self._deadline = 0.0
        self._task: DBTask | None = None
        self.inexact: list[str] = []  # observations of this episode that may read differently on MariaDB

    def open(self, task: DBTask) -> None:
        self.close_episode()
        self.inexact = []
        self._task = task
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        conn.create_collation("mysql_ci", _mysql_ci)
        conn.create_function("md5", 1, _md5, deterministic=True)
        conn.create_function("concat_ws", -1, _concat_ws, deterministic=True)
        conn.create_function("concat", -1, _concat, deterministic=True)
        conn.create_function("mysql_decimal", 3, mysql_decimal, deterministic=True)
        conn.create_function("mysql_round_decimal", 3, mysql_round_decimal, deterministic=True)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_LENGTH)
        conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, 8 * MAX_SQL_CHARS)  # room for the translation's casts
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.execute(f"PRAGMA hard_heap_limit = {HARD_HEAP_LIMIT_BYTES}")
        conn.execute("PRAGMA temp_store = MEMORY")  # sorts stay on the heap, under its limit
        self._conn = conn
        cols = ",".join(f"{_quote(c)} TEXT COLLATE mysql_ci" for c in task.columns)
        try:
            conn.execute(f"CREATE TABLE {_quote(task.table_name)} ({cols})")
            if task.rows:
                marks = ",".join("(" + ",".join("?" * len(r)) + ")" for r in task.rows)
                conn.execute(f"INSERT INTO {_quote(task.table_name)} VALUES {marks}",
                             [_as_text(v) for r in task.rows for v in r])
        except sqlite3.Error as err:
            if not task.table_error:
                raise RuntimeError(f"sample {task.index}: creating its table failed on SQLite: {err}") from err
            # v0.2 swallowed this set-up error (task.table_error says why); the episode runs without the table
        conn.set_authorizer(_authorize)
        conn.set_progress_handler(self._interrupt, 1_000)

    def _interrupt(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0

    def execute(self, sql: str) -> str:
        try:
            return self.run(sql)
        except SQLError as err:
            return str(err)

    def run(self, sql: str) -> str:
        """One model block: the MySQL-style result text, or `SQLError` with MySQL's error text."""
        assert self._conn is not None, "open(task) first"
        turn_deadline = time.monotonic() + self.turn_timeout_s
        check_statement(sql)
        statements = translate_statements(sql)  # inside the budget: a slow parse counts against it
        if time.monotonic() > turn_deadline:
            raise SQLError(TIMED_OUT)
        if len(statements) > 1:
            self._run_block(statements, sql, turn_deadline)
        tree, text = statements[0]
        return self._run_one(tree, text, sql, turn_deadline)

    def _run_one(self, tree, text: str, sql: str, turn_deadline: float) -> str:
        assert self._conn is not None and self._task is not None
        self._deadline = min(time.monotonic() + self.timeout_s, turn_deadline)
        try:
            cur = self._conn.execute(text)
            rendered, exact = _render(cur, tree)
            cur.close()
        except (sqlite3.Error, OverflowError, ValueError, MemoryError) as err:
            error = mysql_error(err, tree, sql, self._task.table_name, self._task.columns)
            if not error.exact:
                self.inexact.append(f"{sql[:200]!r}: SQLite's error {err}")
            raise error from None
        if not exact:
            self.inexact.append(f"{sql[:200]!r}: result types not worked out")
        return rendered

    def _run_block(self, statements, sql: str, turn_deadline: float) -> None:
        """As the MySQL backend: the first failing statement's error, else "Commands out of sync"; either way
        the block's changes are rolled back (MySQL keeps DDL: such blocks are marked inexact)."""
        assert self._conn is not None
        if any(isinstance(tree, _DDL) for tree, _ in statements):
            self.inexact.append(f"{sql[:200]!r}: DDL in a block of several statements")
        self._conn.execute("SAVEPOINT abt_block")
        try:
            for tree, text in statements:
                self._run_one(tree, text, sql, turn_deadline)
        finally:
            try:
                self._conn.execute("ROLLBACK TO abt_block")
                self._conn.execute("RELEASE abt_block")
            except sqlite3.Error as err:  # the block ended the transaction itself (COMMIT/ROLLBACK inside)
                self.inexact.append(f"{sql[:200]!r}: could not roll the block back ({err})")
        raise SQLError(OUT_OF_SYNC)

    def table_hash(self, task: DBTask) -> str:
        """MySQL's `md5(group_concat(substring(md5(concat_ws(',', cols)),1,5) order by ...))`, in Python."""
        assert self._conn is not None, "open(task) first"
        self._deadline = time.monotonic() + 60.0
        cols = ",".join(_quote(c) for c in task.columns)
        try:
            rows = self._conn.execute(f"SELECT {cols} FROM {_quote(task.table_name)}").fetchall()
        except sqlite3.Error as err:  # the model dropped the table or a column: v0.2 compares the error text
            return str(mysql_error(err, None, "", task.table_name, task.columns))
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


def _render(cur: sqlite3.Cursor, tree) -> tuple[str, bool]:
    """`str(cursor.fetchall())` as mysql-connector prints it, up to MAX_ROWS rows and MAX_RESULT_CHARS
    characters; and whether every value's MySQL type was worked out."""
    if cur.description is None:
        return "[]", True
    kinds = result_kinds(tree, len(cur.description))
    pieces, size, exact = [], 0, True
    for row in cur:
        values = []
        for value, kind in zip(row, kinds, strict=True):
            converted, ok = to_mysql(value, kind)
            values.append(converted)
            exact &= ok
        pieces.append(repr(tuple(values)))
        size += len(pieces[-1]) + 2
        if size > MAX_RESULT_CHARS or len(pieces) >= MAX_ROWS:
            break
    return ("[" + ", ".join(pieces) + "]")[:MAX_RESULT_CHARS], exact
