"""ALFWorld: the AgentBench v0.2 harness over two game backends (our simulator, the real TextWorld engine).

    from agentbench_tuning.envs import alfworld
    env = alfworld.AlfworldEnv()                           # harness (envs.base contract)
    tasks = alfworld.sim_tasks(60, seed=0)                 # or game_dir_tasks(DIR) / split_tasks(FILE, ROOT)
    # episodes are played by the shared runner: `abtune eval alfworld --agent expert`

Modules: world (game state + 2.1.1 text), generator (seeded games), expert (planner + thoughts), protocol
(v0.2 rules), prompts (instruction, examples, importer), harness (AlfworldEnv), sim / textworld_game
(backends), agents (expert, replay; scripted agents the shared runner plays).
"""

from agentbench_tuning.envs.alfworld.agents import DerailedExpert, ExpertAgent, ReplayAgent, StepRecorder
from agentbench_tuning.envs.alfworld.generator import WorldConfig, generate_world
from agentbench_tuning.envs.alfworld.harness import MAX_STEPS, AlfworldEnv, GameState
from agentbench_tuning.envs.alfworld.prompts import (
    Prompts,
    default_prompts,
    import_agentbench_prompts,
    load_prompts,
    save_prompts,
)
from agentbench_tuning.envs.alfworld.sim import SimGame, SimTask, sim_tasks
from agentbench_tuning.envs.alfworld.textworld_game import (
    TextWorldGame,
    TextWorldTask,
    build_test_game,
    engine_missing,
    game_dir_tasks,
    split_tasks,
)
from agentbench_tuning.envs.alfworld.world import TASK_TYPES, World

__all__ = [
    "AlfworldEnv",
    "DerailedExpert",
    "ExpertAgent",
    "StepRecorder",
    "GameState",
    "WorldConfig",
    "MAX_STEPS",
    "Prompts",
    "ReplayAgent",
    "SimGame",
    "SimTask",
    "TASK_TYPES",
    "TextWorldGame",
    "TextWorldTask",
    "World",
    "build_test_game",
    "default_prompts",
    "engine_missing",
    "game_dir_tasks",
    "generate_world",
    "import_agentbench_prompts",
    "load_prompts",
    "save_prompts",
    "sim_tasks",
    "split_tasks",
]
