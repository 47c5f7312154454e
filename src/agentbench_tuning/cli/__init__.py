"""`abtune`: the command line. Each command wires package functions together; no logic lives here.

Modules: train (sft, export), eval (eval dbbench|alfworld with any agent), data (generators, from-runs,
pairs, prompts), db (the managed MariaDB), report (report, diagnose), experiments (sweep, ablate, run --spec). Every command's help shows an example.

    abtune --help
    abtune sft --config configs/debug.yaml train.max_steps=20
"""

from agentbench_tuning.cli import data, db, experiments, plan, report, train  # noqa: F401 - each registers its commands
from agentbench_tuning.cli import eval as eval_commands  # noqa: F401
from agentbench_tuning.cli.app import app, main

__all__ = ["app", "main"]
