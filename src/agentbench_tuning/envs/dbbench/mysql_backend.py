"""The faithful DB Bench backend: any MySQL/MariaDB server, reached by `mysql://user:password@host:port`.

Each episode gets its own database and table, both named after `table_name` as in v0.2 (or a unique
suffix when several episodes of one sample run side by side), every column `TEXT`, rows inserted as
parameters. Model SQL runs as a per-run user that can reach only the episode's database (no FILE
privilege), with a statement time limit and a row cap; results are `str(cursor.fetchall())` of
mysql-connector-python values, errors are `str(error)` — the text v0.2's Container.execute returns.

    backend = MySQLBackend("mysql://abtune:pw@127.0.0.1:3306")
    backend.open(task); print(backend.execute("SELECT 1")); print(backend.table_hash(task)); backend.close_episode()
"""

from __future__ import annotations

import contextlib
import secrets
import urllib.parse
from dataclasses import dataclass

import mysql.connector

from .grade import hash_query, quote_ident
from .task import DBTask

MAX_ROWS = 2000  # str() of this many rows is far above the 800 characters the harness shows
# What mysql-connector-python 8.0.33 (v0.2's client) said when v0.2 committed after a multi-statement block.
OUT_OF_SYNC = "Commands out of sync; you can't run this command now"


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


def _grant_pattern(db: str) -> str:
    # In GRANT ... ON `db`.*, '_' and '%' are wildcards; escape them so the grant covers this database only.
    return quote_ident(db.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%"))


class MySQLBackend:
    name = "mysql"

    def __init__(self, url: str, timeout_s: float = 5.0, unique_databases: bool = False):
        self.url = MySQLURL.parse(url)
        self.timeout_s = timeout_s
        self.unique_databases = unique_databases
        self._admin = self._connect(self.url.user, self.url.password)
        self._mariadb = "mariadb" in self._admin_fetch("SELECT VERSION()")[0][0].lower()
        self._sandbox_user = "abt_" + secrets.token_hex(6)
        self._sandbox_password = secrets.token_hex(16)
        self._admin_run(f"CREATE USER '{self._sandbox_user}'@'%' IDENTIFIED BY '{self._sandbox_password}'")
        self._db: str | None = None
        self._conn = None

    def _connect(self, user: str, password: str, database: str | None = None, autocommit: bool = True):
        conn = mysql.connector.connect(host=self.url.host, port=self.url.port, user=user, password=password,
                                       database=database, autocommit=autocommit, connection_timeout=30,
                                       charset="utf8mb4", allow_local_infile=False)
        with conn.cursor() as cur:
            # AgentBench's grader ran on MySQL 8 defaults: a 1024-byte group_concat (MariaDB's default is 1 MiB).
            cur.execute("SET SESSION group_concat_max_len = 1024")
        return conn

    def _admin_run(self, sql: str, params: tuple = ()) -> None:
        self._admin.ping(reconnect=True)
        with self._admin.cursor() as cur:
            cur.execute(sql, params)

    def _admin_fetch(self, sql: str) -> list[tuple]:
        with self._admin.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    def open(self, task: DBTask) -> None:
        """Create the episode's database and table; set-up errors are swallowed as v0.2 does."""
        self.close_episode()
        # Unique names (for episodes of one sample side by side) stay within MySQL's 64-character limit.
        self._db = (f"{task.table_name[:50]}__{secrets.token_hex(4)}" if self.unique_databases else task.table_name)
        try:
            # A crashed earlier run may have left this database behind; v0.2 would add its rows a second time.
            self._admin_run(f"DROP DATABASE IF EXISTS {quote_ident(self._db)}")
            self._admin_run(f"CREATE DATABASE IF NOT EXISTS {quote_ident(self._db)}")
            self._admin_run(f"GRANT ALL PRIVILEGES ON {_grant_pattern(self._db)}.* TO '{self._sandbox_user}'@'%'")
            cols = ",".join(f"{quote_ident(c)} TEXT" for c in task.columns)
            self._admin_run(f"CREATE TABLE IF NOT EXISTS {quote_ident(self._db)}.{quote_ident(task.table_name)} ({cols})")
            if task.rows:
                names = ",".join(quote_ident(c) for c in task.columns)
                marks = ",".join("(" + ",".join(["%s"] * len(r)) + ")" for r in task.rows)
                params = tuple(v for r in task.rows for v in r)
                self._admin_run(f"INSERT INTO {quote_ident(self._db)}.{quote_ident(task.table_name)} ({names}) "
                                f"VALUES {marks}", params)
        except mysql.connector.Error:
            pass  # v0.2 swallows set-up errors (duplicate or empty column names); the episode runs anyway

    def _sandbox(self):
        if self._conn is None:
            try:
                conn = self._connect(self._sandbox_user, self._sandbox_password, self._db, autocommit=False)
            except mysql.connector.Error:  # the database could not be created: connect without one
                conn = self._connect(self._sandbox_user, self._sandbox_password, autocommit=False)
            limit = (f"SET SESSION max_statement_time = {self.timeout_s}" if self._mariadb
                     else f"SET SESSION max_execution_time = {int(self.timeout_s * 1000)}")
            with conn.cursor() as cur:
                cur.execute(limit)
            self._conn = conn
        return self._conn

    def execute(self, sql: str) -> str:
        """Run one model block; the text v0.2 shows (before its 800-character cut).

        v0.2 ran blocks with `multi=True` and then committed: with more than one statement the commit failed
        with "Commands out of sync" and the reconnect before the next statement rolled the changes back
        (DDL, which commits implicitly, stays). Checked once by a differential run against
        mysql-connector-python 8.0.33, the client v0.2 pins (35/35 identical outputs and table hash).
        """
        try:
            conn = self._sandbox()
            cur = conn.cursor()
            cur.execute(sql)
            rows = cur.fetchmany(MAX_ROWS) if cur.with_rows else []
            if cur.with_rows and cur.fetchone() is not None:
                self._drop_connection()  # leave the unread rest on the server, not in our memory
                return str(rows)
            if self._more_results(cur):
                conn.rollback()
                return OUT_OF_SYNC
            cur.close()
            conn.commit()
            return str(rows)
        except mysql.connector.Error as err:
            self._drop_connection()
            return str(err)

    def _more_results(self, cur) -> bool:
        """Whether the block held further statements; reads (and so runs) them all, as the server does."""
        if not cur.nextset():
            return False
        try:
            while True:
                if cur.with_rows and len(cur.fetchmany(MAX_ROWS + 1)) > MAX_ROWS:
                    self._drop_connection()
                    return True
                if not cur.nextset():
                    return True
        except mysql.connector.Error:
            return True  # v0.2 never read the later statements' errors: its commit failed first

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(mysql.connector.Error):
                self._conn.shutdown()
            self._conn = None

    def table_hash(self, task: DBTask) -> str:
        """v0.2's md5 fingerprint of the episode table, as the stringified fetch result (or error text)."""
        try:
            conn = self._connect(self.url.user, self.url.password, self._db)
        except mysql.connector.Error as err:
            return str(err)
        try:
            with conn.cursor() as cur:
                cur.execute(hash_query(task.columns, task.table_name))
                return str(cur.fetchall())
        except mysql.connector.Error as err:
            return str(err)
        finally:
            conn.close()

    def close_episode(self) -> None:
        self._drop_connection()
        if self._db is not None:
            with contextlib.suppress(mysql.connector.Error):  # nothing was granted if the name was invalid
                self._admin_run(f"REVOKE ALL PRIVILEGES ON {_grant_pattern(self._db)}.* FROM '{self._sandbox_user}'@'%'")
            # A name MySQL rejects (over 64 characters) was never created: v0.2 ran such samples table-less.
            with contextlib.suppress(mysql.connector.Error):
                self._admin_run(f"DROP DATABASE IF EXISTS {quote_ident(self._db)}")
            self._db = None

    def close(self) -> None:
        self.close_episode()
        self._admin_run(f"DROP USER IF EXISTS '{self._sandbox_user}'@'%'")
        self._admin.close()
