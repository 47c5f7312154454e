"""Shared fixtures: the offline Qwen tokenizers and tiny random-weight Qwen models (built once, cached)."""

from __future__ import annotations

import os

import pytest

FAMILIES = ("qwen2.5", "qwen3-2507")


@pytest.fixture(scope="session", params=FAMILIES)
def family(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def tokenizers():
    from agentbench_tuning.models import offline_tokenizer

    return {f: offline_tokenizer(f) for f in FAMILIES}


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory):
    """{family: path} of tiny random-weight models with the offline tokenizer saved beside them."""
    from agentbench_tuning.models import tiny_model

    root = tmp_path_factory.mktemp("tiny-models")
    return {f: tiny_model(f, root / f) for f in FAMILIES}


@pytest.fixture
def fake_agentbench(tmp_path):
    """A stand-in AgentBench v0.2 checkout with dummy prompt texts (ours, not AgentBench's) where the
    importers look: DB Bench's `big_prompt`, ALFWorld's instruction, acknowledgement and example file."""
    import json

    from agentbench_tuning.envs.alfworld.prompts import EXAMPLE_KEYS

    root = tmp_path / "AgentBench"
    db = root / "src/server/tasks/dbbench/__init__.py"
    db.parent.mkdir(parents=True)
    # The raise proves the importer parses the file instead of running it.
    db.write_text('import os\nraise SystemExit("must not run")\nbig_prompt = """\nDUMMY RULES\n"""\n')
    task_py = root / "src/server/tasks/alfworld/task.py"
    task_py.parent.mkdir(parents=True)
    task_py.write_text(
        "class ALFWorld:\n"
        "    @staticmethod\n"
        "    def get_task_instruction():\n"
        "        # return 'an old commented-out text'\n"
        "        return 'DUMMY INSTRUCTION'\n"
        "    async def alfworld_run(self, session, env):\n"
        "        session.inject({'role': 'user', 'content': self.get_task_instruction()})\n"
        "        session.inject({'role': 'agent', 'content': 'DUMMY ACK'})\n"
    )
    (root / "configs/tasks").mkdir(parents=True)
    (root / "configs/tasks/alfworld.yaml").write_text(
        'default:\n  parameters:\n    prompts_path: "src/server/tasks/alfworld/prompts/x.json"\n'
    )
    (task_py.parent / "prompts").mkdir()
    examples = {k: [f"{k} obs", f"ACTION: {k}"] for k in EXAMPLE_KEYS.values()}
    (task_py.parent / "prompts/x.json").write_text(json.dumps(examples))
    return root


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords and not has_gpu:
            item.add_marker(skip_gpu)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
