"""A private MariaDB server for DB Bench, managed without systemd (works as root, in containers and on Colab).

`start(data_dir)` initialises a data directory (once), starts `mariadbd` on 127.0.0.1 at a free port with the
benchmark's settings (non-strict sql_mode, utf8mb4), creates an `abtune` user with a random password and
writes `server.json` (pid, port, url) into the data directory. `stop(data_dir)` ends it by its PID. Every
`start` (of a new or an already running server) first cleans what killed runs left: prepared XA transactions,
sandbox users and episode databases whose run is gone (`clean`).

    python -m agentbench_tuning.cli db start --dir /tmp/abtune-db
    python -m agentbench_tuning.cli db status --dir /tmp/abtune-db
    python -m agentbench_tuning.cli db stop --dir /tmp/abtune-db
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from agentbench_tuning.locks import pid_alive

DEFAULT_DIR = Path(os.environ.get("ABTUNE_DB_DIR", Path.home() / ".cache" / "agentbench_tuning" / "mariadb"))
# AgentBench's MySQL accepted gold UPDATEs comparing TEXT with numbers ('?' = 16) with a warning, so it ran
# without STRICT_TRANS_TABLES; this is the mode that reproduces the benchmark's table hashes.
SQL_MODE = "NO_ENGINE_SUBSTITUTION"
DEBIAN_PACKAGES = ("mariadb-server", "mariadb-client")


@dataclass(frozen=True)
class ServerInfo:
    pid: int
    port: int
    url: str
    data_dir: str


def _binary(name: str) -> str:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and Path(candidate).exists():
            return candidate
    raise FileNotFoundError(
        f"{name} not found; install MariaDB (Debian/Ubuntu: apt-get install -y {' '.join(DEBIAN_PACKAGES)}) "
        "or point --db-url at an existing MySQL/MariaDB server"
    )


def binaries_available() -> bool:
    try:
        _binary("mariadbd")
        _binary("mariadb-install-db")
    except FileNotFoundError:
        return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def status(data_dir: str | Path = DEFAULT_DIR) -> ServerInfo | None:
    """The running server of this data directory, or None (a stale server.json is ignored)."""
    state = Path(data_dir) / "server.json"
    if not state.exists():
        return None
    info = ServerInfo(**json.loads(state.read_text()))
    return info if pid_alive(info.pid) else None


def _user_flags() -> list[str]:
    # mariadbd refuses to run as root unless told to; as another user it runs as that user anyway.
    return ["--user=root"] if os.geteuid() == 0 else []


def _initialise(data: Path) -> None:
    if (data / "mysql").is_dir():
        return
    data.mkdir(parents=True, exist_ok=True)
    cmd = [_binary("mariadb-install-db"), f"--datadir={data}", "--auth-root-authentication-method=socket",
           "--skip-test-db", *_user_flags()]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"mariadb-install-db failed (exit {done.returncode}) in {data}:\n{done.stderr[-2000:]}")


def _server_command(data: Path, port: int) -> list[str]:
    # A throwaway evaluation server: every sample creates and drops a database, so durability settings
    # (doublewrite, fsync, one file per table) only cost time.
    return [
        _binary("mariadbd"), "--no-defaults", f"--datadir={data}", f"--port={port}", "--bind-address=127.0.0.1",
        f"--socket={data / 'mysqld.sock'}", f"--pid-file={data / 'mysqld.pid'}", f"--log-error={data / 'error.log'}",
        f"--sql-mode={SQL_MODE}", "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
        "--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M",
        "--innodb-flush-log-at-trx-commit=2", "--innodb-file-per-table=0", "--innodb-doublewrite=0",
        "--innodb-flush-method=nosync", "--max-connections=200", "--local-infile=0",
        f"--secure-file-priv={data / 'no-files'}", *_user_flags(),
    ]


def _wait_for_socket(data: Path, proc: subprocess.Popen, timeout_s: float) -> None:
    import mysql.connector

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = (data / "error.log").read_text(errors="replace")[-2000:] if (data / "error.log").exists() else ""
            raise RuntimeError(f"mariadbd exited with code {proc.returncode}; error.log tail:\n{log}")
        try:
            mysql.connector.connect(unix_socket=str(data / "mysqld.sock"), user=_socket_user(),
                                    connection_timeout=5, read_timeout=10).close()
            return
        except mysql.connector.Error:
            time.sleep(0.2)
    raise TimeoutError(f"mariadbd did not accept connections within {timeout_s} s; see {data / 'error.log'}")


def _socket_user() -> str:
    import pwd

    return "root" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name


def _create_user(data: Path, password: str) -> None:
    import mysql.connector

    conn = mysql.connector.connect(unix_socket=str(data / "mysqld.sock"), user=_socket_user(), autocommit=True,
                                   connection_timeout=5, read_timeout=10)
    with conn.cursor() as cur:
        cur.execute("CREATE OR REPLACE USER 'abtune'@'127.0.0.1' IDENTIFIED BY %s", (password,))
        cur.execute("GRANT ALL PRIVILEGES ON *.* TO 'abtune'@'127.0.0.1' WITH GRANT OPTION")
    conn.close()


def start(data_dir: str | Path = DEFAULT_DIR, timeout_s: float = 60.0) -> ServerInfo:
    """Start (or return the already running) managed server of `data_dir`."""
    data = Path(data_dir).resolve()
    running = status(data)
    if running:
        clean(running.url)
        return running
    _initialise(data)
    (data / "no-files").mkdir(exist_ok=True)
    port = _free_port()
    log = (data / "stdout.log").open("ab")
    proc = subprocess.Popen(_server_command(data, port), stdout=log, stderr=log, start_new_session=True)
    try:
        _wait_for_socket(data, proc, timeout_s)
        password = secrets.token_hex(12)
        _create_user(data, password)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    info = ServerInfo(pid=proc.pid, port=port, url=f"mysql://abtune:{password}@127.0.0.1:{port}", data_dir=str(data))
    state = data / "server.json"
    tmp = state.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(info)))
    os.chmod(tmp, 0o600)
    os.replace(tmp, state)
    clean(info.url)
    return info


def clean(url: str) -> dict[str, list[str]]:
    """Roll back orphan XA transactions and drop the users and databases of runs that are gone
    (`mysql_backend.clean_orphans`: only names whose owner's server-side lock is free)."""
    from .mysql_backend import MySQLURL, clean_orphans, connect
    from .sandbox import ADMIN_READ_TIMEOUT_S

    parsed = MySQLURL.parse(url)
    conn = connect(parsed, parsed.user, parsed.password, ADMIN_READ_TIMEOUT_S)
    try:
        with conn.cursor() as cur:
            done = clean_orphans(cur)
    finally:
        conn.close()
    if any(done.values()):
        logging.getLogger(__name__).warning("cleaned the server at %s:%s: %s", parsed.host, parsed.port, done)
    return done


def stop(data_dir: str | Path = DEFAULT_DIR, timeout_s: float = 30.0) -> bool:
    """Stop the managed server by its PID; True if one was running."""
    data = Path(data_dir)
    info = status(data)
    (data / "server.json").unlink(missing_ok=True)
    if info is None:
        return False
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            # Reap it if it is our child (tests start and stop it in one process).
            if os.waitpid(info.pid, os.WNOHANG)[0] == info.pid:
                return True
        except ChildProcessError:
            if not pid_alive(info.pid):
                return True
        time.sleep(0.1)
    os.kill(info.pid, signal.SIGKILL)
    return True
