"""DB Bench (AgentBench v0.2): environment, backends (MySQL/MariaDB, SQLite), grader, agents, generator.

    from agentbench_tuning.envs.dbbench import DBBenchEnv, SQLiteBackend, load_tasks, OracleAgent
    env = DBBenchEnv(SQLiteBackend())        # episodes are played by the shared runner (rollout.episodes)
"""

from . import server
from .agents import ExpertTurnsAgent, OracleAgent, ReplayAgent, answer_turn, operation_turn
from .env import MAX_ROUNDS, Backend, DBBenchEnv, EnvPool
from .grade import answers_match, answers_match_fc, summarize
from .mysql_backend import MySQLBackend
from .prompts import INSTRUCTION, import_agentbench_prompts
from .sandbox import STATEMENT_TIMEOUT_S, DatabaseUnavailable, SQLError
from .sqlite_backend import SQLiteBackend
from .task import DBTask, load_tasks


def make_backend(kind: str, db_url: str | None = None, timeout_s: float = STATEMENT_TIMEOUT_S) -> Backend:
    """`sqlite` (embedded) or `mysql` (needs `db_url`, e.g. from `abtune db status`)."""
    if kind == "sqlite":
        return SQLiteBackend(timeout_s=timeout_s)
    if kind == "mysql":
        if not db_url:
            raise ValueError("--backend mysql needs --db-url mysql://user:password@host:port "
                             "(start one with `abtune db start`)")
        return MySQLBackend(db_url, timeout_s=timeout_s)
    raise ValueError(f"--backend {kind!r}: choose mysql or sqlite")


__all__ = [
    "Backend", "DatabaseUnavailable", "DBBenchEnv", "DBTask", "EnvPool", "ExpertTurnsAgent", "INSTRUCTION", "MAX_ROUNDS", "MySQLBackend",
    "OracleAgent", "ReplayAgent", "SQLError", "SQLiteBackend", "answer_turn", "answers_match", "answers_match_fc",
    "import_agentbench_prompts", "load_tasks", "make_backend", "operation_turn", "server", "summarize",
]
