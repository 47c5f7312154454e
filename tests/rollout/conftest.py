"""Fixtures for rollout tests: the toy env on sys.path, and one transformers generator per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def hf_generator(tiny_model_dirs):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agentbench_tuning.rollout.hf import TransformersGenerator

    path = tiny_model_dirs["qwen2.5"]
    return TransformersGenerator(AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path))
