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
