"""The faithful DB Bench backend: any MySQL/MariaDB server, reached by `mysql://user:password@host:port`.

Each episode gets its own database `abt_<run>_<n>` (unique per backend and episode, so runs and episodes side
by side never meet) holding the sample's table, every column `TEXT`, rows inserted as parameters. Where the
database's name shows in an observation it reads as v0.2's (the table name). Model SQL runs as a per-run user
granted only plain data and DDL privileges on the episode's database, under the sandbox limits of `sandbox.py`
(statement check, per-statement `max_statement_time`, per-block deadline enforced with KILL, client
timeouts). Results are `str(cursor.fetchall())` of mysql-connector-python values; a failed statement raises
`SQLError` with `str(error)`, the text v0.2's Container.execute returned. A failure of the server or the
connection raises `DatabaseUnavailable`, never an observation.

Orphans: a backend holds the named lock `abt_<run>` on its admin connection while it lives; the server
releases it when the process dies. `clean_orphans` (run at start-up and by `abtune db start`) rolls back
prepared XA transactions and drops `abt_<run>` users and `abt_<run>_<n>` databases whose lock is free.

    backend = MySQLBackend("mysql://abtune:pw@127.0.0.1:3306")
    backend.open(task); print(backend.run("SELECT 1")); print(backend.table_hash(task)); backend.close_episode()
"""

from __future__ import annotations

import contextlib
import math
import re
import secrets
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import mysql.connector

from .grade import hash_query, quote_ident
from .sandbox import (
    ADMIN_READ_TIMEOUT_S,
    CONNECT_TIMEOUT_S,
    LOCK_WAIT_TIMEOUT_S,
    OUT_OF_SYNC,
    STATEMENT_TIMEOUT_S,
    TIMED_OUT,
    TURN_TIMEOUT_S,
    DatabaseUnavailable,
    SQLError,
    check_statement,
)
from .task import DBTask

MAX_ROWS = 2000  # str() of this many rows is far above the 800 characters the harness shows
# Plain data and DDL only: no LOCK TABLES, TRIGGER, EVENT, routines (whose bodies could change session limits).
SANDBOX_PRIVILEGES = ("SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, CREATE TEMPORARY TABLES, "
                      "CREATE VIEW, SHOW VIEW, REFERENCES")
_RUN = re.compile(r"abt_[0-9a-f]{12}")
_EPISODE_DB = re.compile(r"(abt_[0-9a-f]{12})_\d+")
# Server errors that mean the server, not the statement, failed: too many connections, shutdown in progress,
# network errors, connection killed by someone else. (1045 "access denied" is also what LOAD DATA INFILE gets.)
_SERVER_DOWN = {1040, 1053, 1152, 1153, 1154, 1155, 1156, 1157, 1158, 1159, 1160, 1161, 1927}
_LOCK_TIMEOUTS = {1205, 1969, 3024}  # lock wait timeout, statement time limit (MariaDB, MySQL)


@dataclass(frozen=True)
class MySQLURL:
    host: str
    port: int
    user: str
    password: str

    @classmethod
    def parse(cls, url: str) -> MySQLURL:
        parts = urllib.parse.urlparse(url)
        if parts.scheme != "mysql" or not parts.hostname or not parts.username:
            raise ValueError(f"--db-url {url!r}: expected mysql://user:password@host:port")
        return cls(parts.hostname, parts.port or 3306, urllib.parse.unquote(parts.username),
                   urllib.parse.unquote(parts.password or ""))


def is_infrastructure(err: Exception) -> bool:
    """Whether a mysql-connector error is the server's or the connection's failure rather than the SQL's."""
    if isinstance(err, (mysql.connector.errors.ReadTimeoutError, mysql.connector.errors.WriteTimeoutError,
                        mysql.connector.errors.ConnectionTimeoutError, mysql.connector.errors.InterfaceError)):
        return True
    errno = getattr(err, "errno", None)
    return errno is None or errno < 1000 or 2000 <= errno < 3000 or errno in _SERVER_DOWN  # 2xxx: client errors


def connect(url: MySQLURL, user: str, password: str, read_timeout_s: float, database: str | None = None,
            autocommit: bool = True) -> Any:
    """A connection with connect, read and write timeouts; `DatabaseUnavailable` if the server cannot be reached
    or refuses the account (a missing `database` is the caller's to handle: the model may have dropped it)."""
    timeout = max(1, math.ceil(read_timeout_s))
    try:
        conn = mysql.connector.connect(host=url.host, port=url.port, user=user, password=password,
                                       database=database, autocommit=autocommit, use_pure=True,
                                       connection_timeout=CONNECT_TIMEOUT_S, read_timeout=timeout,
                                       write_timeout=timeout, charset="utf8mb4", allow_local_infile=False)
        with conn.cursor() as cur:
            # AgentBench's grader ran on MySQL 8 defaults: a 1024-byte group_concat (MariaDB's default is 1 MiB).
            cur.execute("SET SESSION group_concat_max_len = 1024")
    except mysql.connector.Error as err:
        if getattr(err, "errno", None) == 1049 and database is not None:
            raise
        raise DatabaseUnavailable(f"cannot connect to MySQL at {url.host}:{url.port} as {user}: {err}") from err
    return conn


def _grant_pattern(db: str) -> str:
    # In GRANT ... ON `db`.*, '_' and '%' are wildcards; escape them so the grant covers this database only.
    return quote_ident(db.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%"))


def _xid_literal(row) -> str:
    format_id, gtrid_length, bqual_length, data = row[:4]
    raw = data if isinstance(data, (bytes, bytearray)) else str(data).encode("utf-8")
    gtrid, bqual = raw[:gtrid_length], raw[gtrid_length:gtrid_length + bqual_length]
    return f"X'{gtrid.hex()}',X'{bqual.hex()}',{int(format_id)}"


def clean_orphans(cur: Any) -> dict[str, list[str]]:
    """Roll back prepared XA transactions and drop the users and databases of backends that are gone.

    Safe with live runs on the same server: a backend holds the lock `abt_<run>` for its whole life (the server
    frees it when its connection dies), so only names whose lock is free are dropped. XA is denied to model SQL,
    so any prepared XA transaction is left over from a killed run (or an older version): the evaluation server
    must not be shared with applications that use XA."""
    done: dict[str, list[str]] = {"xa_rolled_back": [], "users_dropped": [], "databases_dropped": []}
    cur.execute("XA RECOVER")
    for row in cur.fetchall():
        xid = _xid_literal(row)
        cur.execute(f"XA ROLLBACK {xid}")
        done["xa_rolled_back"].append(xid)

    def orphan(run: str) -> bool:
        cur.execute("SELECT IS_USED_LOCK(%s)", (run,))
        return cur.fetchall()[0][0] is None

    cur.execute("SELECT DISTINCT User FROM mysql.user WHERE User LIKE 'abt\\_%'")
    for (user,) in cur.fetchall():
        user = user.decode() if isinstance(user, (bytes, bytearray)) else user
        if _RUN.fullmatch(user) and orphan(user):
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
            done["users_dropped"].append(user)
    cur.execute("SHOW DATABASES LIKE 'abt\\_%'")
    for (db,) in cur.fetchall():
        match = _EPISODE_DB.fullmatch(db)
        if match and orphan(match.group(1)):
            cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(db)}")
            done["databases_dropped"].append(db)
    return done


class MySQLBackend:
    name = "mysql"

    def __init__(self, url: str, timeout_s: float = STATEMENT_TIMEOUT_S, turn_timeout_s: float = TURN_TIMEOUT_S,
                 unique_databases: bool = True):
        if not unique_databases:  # the keyword remains only for callers written before names were always unique
            raise ValueError("MySQLBackend: episode databases are always unique; drop unique_databases=False")
        self.url = MySQLURL.parse(url)
        self.timeout_s = timeout_s
        self.turn_timeout_s = turn_timeout_s
        self.inexact: list[str] = []  # always empty: this is the reference
        self._broken: str | None = None  # why the server is unusable, once it was
        self.run_id = "abt_" + secrets.token_hex(6)
        self._admin = connect(self.url, self.url.user, self.url.password, ADMIN_READ_TIMEOUT_S)
        self._admin_run(f"SET SESSION lock_wait_timeout = {LOCK_WAIT_TIMEOUT_S}, "
                        f"innodb_lock_wait_timeout = {LOCK_WAIT_TIMEOUT_S}")
        self._mariadb = "mariadb" in self._admin_fetch("SELECT VERSION()")[0][0].lower()
        if self._admin_fetch("SELECT GET_LOCK(%s, 0)", (self.run_id,))[0][0] != 1:
            raise RuntimeError(f"could not take the run lock {self.run_id} (a clash of random names); retry")
        self.cleaned = self._admin_call(clean_orphans)
        self._sandbox_password = secrets.token_hex(16)
        self._admin_run(f"CREATE USER '{self.run_id}'@'%' IDENTIFIED BY '{self._sandbox_password}'")
        self._episodes = 0
        self._db: str | None = None
        self._task: DBTask | None = None
        self._conn = None
        self._thread = 0  # the sandbox connection's server thread, for KILL

    # ------------------------------------------------------------------ admin connection

    def _fail(self, err: Exception, doing: str) -> DatabaseUnavailable:
        self._broken = f"{doing}: {err}"
        self._conn = None
        return DatabaseUnavailable(f"MySQL at {self.url.host}:{self.url.port} failed while {doing}: {err}")

    def _admin_call(self, fn, *args):
        if self._broken:
            raise DatabaseUnavailable(f"MySQL backend unusable after an earlier failure ({self._broken})")
        try:
            with self._admin.cursor() as cur:
                return fn(cur, *args)
        except mysql.connector.Error as err:
            if is_infrastructure(err) or getattr(err, "errno", None) in _LOCK_TIMEOUTS:
                raise self._fail(err, "running an admin statement") from err
            raise

    def _admin_run(self, sql: str, params: tuple = ()) -> None:
        self._admin_call(lambda cur: cur.execute(sql, params))

    def _admin_fetch(self, sql: str, params: tuple = ()) -> list[tuple]:
        def fetch(cur):
            cur.execute(sql, params)
            return cur.fetchall()

        return self._admin_call(fetch)

    # ------------------------------------------------------------------ episodes

    def open(self, task: DBTask) -> None:
        """Create the episode's database and table; a table MySQL cannot create runs without it, as in v0.2."""
        self.close_episode()
        self._episodes += 1
        self._db, self._task = f"{self.run_id}_{self._episodes}", task
        db = quote_ident(self._db)
        self._admin_run(f"CREATE DATABASE {db}")
        self._admin_run(f"GRANT {SANDBOX_PRIVILEGES} ON {_grant_pattern(self._db)}.* TO '{self.run_id}'@'%'")
        cols = ",".join(f"{quote_ident(c)} TEXT" for c in task.columns)
        try:
            self._admin_run(f"CREATE TABLE {db}.{quote_ident(task.table_name)} ({cols})")
            if task.rows:
                names = ",".join(quote_ident(c) for c in task.columns)
                marks = ",".join("(" + ",".join(["%s"] * len(r)) + ")" for r in task.rows)
                params = tuple(v for r in task.rows for v in r)
                self._admin_run(f"INSERT INTO {db}.{quote_ident(task.table_name)} ({names}) VALUES {marks}", params)
        except mysql.connector.Error as err:
            if not task.table_error:
                raise RuntimeError(f"sample {task.index}: creating its table failed on MySQL: {err}") from err
            # v0.2 swallowed this set-up error (task.table_error says why); the episode runs without the table

    def _v02_names(self, text: str) -> str:
        # The episode database reads as v0.2 named it (after the table), the sandbox user as v0.2's root.
        if self._db and self._task:
            text = text.replace(self._db, self._task.table_name)
        return text.replace(self.run_id, "root")

    def _sandbox(self):
        if self._conn is None:
            if self._broken:
                raise DatabaseUnavailable(f"MySQL backend unusable after an earlier failure ({self._broken})")
            try:
                conn = connect(self.url, self.run_id, self._sandbox_password, self.turn_timeout_s, self._db,
                               autocommit=False)
            except mysql.connector.Error:  # the model dropped its database: go on without one, as v0.2 did
                conn = connect(self.url, self.run_id, self._sandbox_password, self.turn_timeout_s, autocommit=False)
            limit = (f"SET SESSION max_statement_time = {self.timeout_s}" if self._mariadb
                     else f"SET SESSION max_execution_time = {int(self.timeout_s * 1000)}")
            with conn.cursor() as cur:
                cur.execute(limit)
            self._conn, self._thread = conn, conn.connection_id
        return self._conn

    def execute(self, sql: str) -> str:
        try:
            return self.run(sql)
        except SQLError as err:
            return str(err)

    def run(self, sql: str) -> str:
        """Run one model block within the turn's deadline; the text v0.2 shows (before its 800-character cut).

        v0.2 ran blocks with `multi=True` and then committed: with more than one statement the commit failed
        with "Commands out of sync" and the reconnect before the next statement rolled the changes back
        (DDL, which commits implicitly, stays). Checked once by a differential run against
        mysql-connector-python 8.0.33, the client v0.2 pins (35/35 identical outputs and table hash).
        """
        check_statement(sql)
        deadline = time.monotonic() + self.turn_timeout_s
        conn = self._sandbox()
        try:
            cur = conn.cursor()
            cur.execute(sql)
            rows = cur.fetchmany(MAX_ROWS) if cur.with_rows else []
            if cur.with_rows and cur.fetchone() is not None:
                self._drop_sandbox()  # leave the unread rest on the server, not in our memory
                return self._v02_names(str(rows))
            if self._more_results(cur, deadline):
                if self._conn is not None:  # (a dropped connection has rolled back already)
                    conn.rollback()
                raise SQLError(OUT_OF_SYNC)
            cur.close()
            conn.commit()
            return self._v02_names(str(rows))
        except mysql.connector.Error as err:
            if isinstance(err, mysql.connector.errors.ReadTimeoutError) or time.monotonic() > deadline:
                self._stop_overrun(conn)
                raise SQLError(TIMED_OUT) from None
            self._drop_sandbox()
            if is_infrastructure(err):
                raise self._fail(err, "running model SQL") from err
            raise SQLError(self._v02_names(str(err))) from None

    def _more_results(self, cur, deadline: float) -> bool:
        """Whether the block held further statements; reads (and so runs) them all, as the server does."""
        if not cur.nextset():
            return False
        while True:
            if time.monotonic() > deadline:
                raise mysql.connector.errors.ReadTimeoutError()
            if cur.with_rows and len(cur.fetchmany(MAX_ROWS + 1)) > MAX_ROWS:
                self._drop_sandbox()
                return True
            try:
                if not cur.nextset():
                    return True
            except mysql.connector.Error as err:
                if is_infrastructure(err):
                    raise
                return True  # v0.2 never read the later statements' errors: its commit failed first

    def _stop_overrun(self, conn) -> None:
        """The block outran its deadline: kill its server thread (if the server does not answer, it is gone)."""
        self._conn = None
        try:
            self._admin_run(f"KILL {int(self._thread)}")  # raises DatabaseUnavailable on a frozen or dead server
        except mysql.connector.Error as err:
            if err.errno != 1094:  # "Unknown thread id": it ended by itself meanwhile
                raise
        with contextlib.suppress(mysql.connector.Error):
            conn.close()

    def _drop_sandbox(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(mysql.connector.Error):
                self._conn.shutdown()
            self._conn = None

    def table_hash(self, task: DBTask) -> str:
        """v0.2's md5 fingerprint of the episode table, as the stringified fetch result (or the error text v0.2
        compared when the model had dropped the table). Lock waits are short; a timeout is the server's failure."""
        self._drop_sandbox()  # ends the episode's session and whatever it held

        def fingerprint(cur):
            try:
                cur.execute(f"USE {quote_ident(self._db)}")
                cur.execute(hash_query(task.columns, task.table_name))
                return str(cur.fetchall())
            except mysql.connector.Error as err:
                if is_infrastructure(err) or err.errno in _LOCK_TIMEOUTS:
                    raise
                return self._v02_names(str(err))

        return self._admin_call(fingerprint)

    def close_episode(self) -> None:
        self._drop_sandbox()
        if self._db is not None and not self._broken:
            with contextlib.suppress(mysql.connector.Error):  # nothing to revoke if the grant failed
                self._admin_run(f"REVOKE ALL PRIVILEGES ON {_grant_pattern(self._db)}.* FROM '{self.run_id}'@'%'")
            self._admin_run(f"DROP DATABASE IF EXISTS {quote_ident(self._db)}")
        self._db = self._task = None

    def close(self) -> None:
        """Drop the episode, the sandbox user and the run lock (after a failure, `clean_orphans` does it later)."""
        try:
            self.close_episode()
            if not self._broken:
                self._admin_run(f"DROP USER IF EXISTS '{self.run_id}'@'%'")
        finally:
            with contextlib.suppress(mysql.connector.Error):
                self._admin.close()
