"""The transformers backend and the OpenAI-compatible HTTP backend on a tiny random Qwen2.5."""

from __future__ import annotations

import pytest
from fake_server import ChatServer
from toy import ToyEnv

from agentbench_tuning.config import ConfigError, RolloutSettings
from agentbench_tuning.envs.base import CONTEXT_LIMIT
from agentbench_tuning.rollout.engines import build_generator, parse_seeds
from agentbench_tuning.rollout.episodes import EpisodeSpec, Limits, run_episodes
from agentbench_tuning.rollout.generator import LENGTH, STOP, Prompt, Sampling, render_prompt, stop_token_ids
from agentbench_tuning.rollout.openai_http import EndpointError, OpenAIGenerator

CHATS = [[{"role": "user", "content": "hello"}], [{"role": "user", "content": "a much longer question " * 5}]]


def test_render_prompt_ends_with_generation_prompt(tokenizers, family):
    tok = tokenizers[family]
    ids = render_prompt(tok, CHATS[0])
    # <|im_start|>assistant\n: the header the model continues from (ids 151644, 77091 "assistant", 198 "\n").
    assert ids[-3:] == [151644, 77091, 198]
    assert tok.decode(ids).endswith("<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n")
    # The template's end of turn; the generation config adds Qwen's second eos (what hf.py passes).
    from transformers import GenerationConfig

    assert stop_token_ids(tok) == [151645]
    assert stop_token_ids(tok, GenerationConfig(eos_token_id=[151645, 151643])) == [151645, 151643]


def test_transformers_batched_equals_one_by_one(hf_generator):
    tok = hf_generator.tokenizer
    prompts = [Prompt(m, render_prompt(tok, m), max_new_tokens=n) for m, n in zip(CHATS, (6, 4), strict=False)]
    together = hf_generator.generate(prompts, Sampling())
    alone = [hf_generator.generate([p], Sampling())[0] for p in prompts]
    # Left padding must not change what each row generates; each row keeps its own budget.
    assert [g.token_ids for g in together] == [g.token_ids for g in alone]
    assert [len(g.token_ids) for g in together] == [6, 4]
    assert [g.finish_reason for g in together] == [LENGTH, LENGTH]
    for a, b in zip(together, alone, strict=False):
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)
        assert all(lp < 0 for lp in a.logprobs)


def test_transformers_stops_at_im_end(hf_generator):
    g = hf_generator
    tokens = [11, 22, 151645, 33, 44]
    cut = g._trim(Prompt([], [1], 10), tokens, _fake_logprobs(len(tokens)))
    # The stop token is kept (GRPO trains on it) and nothing after it.
    assert cut.token_ids == [11, 22, 151645] and cut.finish_reason == STOP
    assert cut.text == g.tokenizer.decode([11, 22])


def _fake_logprobs(n):
    import torch

    return torch.full((n, 151936), -1.0)


def test_http_backend_matches_local(hf_generator):
    with ChatServer(hf_generator, max_model_len=4096) as server:
        remote = OpenAIGenerator(server.base_url, "tiny", tokenizer=hf_generator.tokenizer)
        specs = [EpisodeSpec(i, {"word": w}) for i, w in enumerate(["apple", "pear"])]
        over_http = run_episodes(remote, lambda: ToyEnv(max_rounds=2), specs, [0], Sampling(max_new_tokens=5))
        local = run_episodes(hf_generator, lambda: ToyEnv(max_rounds=2), specs, [0], Sampling(max_new_tokens=5))
        assert server.requests[0]["temperature"] == 0.0 and server.requests[0]["max_tokens"] == 5
    for a, b in zip(sorted(over_http, key=lambda t: t.index), sorted(local, key=lambda t: t.index), strict=False):
        assert a.messages == b.messages
        assert [t.completion_ids for t in a.turns] == [t.completion_ids for t in b.turns]
        assert [t.prompt_ids for t in a.turns] == [t.prompt_ids for t in b.turns]


def test_http_context_error_becomes_context_limit(hf_generator):
    # The server's limit is tighter than the local one: its 400 "maximum context length" reply must end the
    # episode as "agent context limit", as AgentBench's HTTP agent does.
    with ChatServer(hf_generator, max_model_len=30) as server:
        remote = OpenAIGenerator(server.base_url, "tiny", tokenizer=hf_generator.tokenizer)
        [traj] = run_episodes(remote, ToyEnv, [EpisodeSpec(0, {"word": "x"})], [0], Sampling(), Limits(max_context=8192))
    assert traj.status == CONTEXT_LIMIT


def test_http_unreachable_is_a_clear_error():
    gen = OpenAIGenerator("http://127.0.0.1:9", "m", timeout_s=5)
    with pytest.raises(EndpointError, match="cannot connect"):
        gen.generate([Prompt([{"role": "user", "content": "hi"}], [], 5)], Sampling())


def test_model_options():
    assert parse_seeds("0,1,2") == [0, 1, 2]
    with pytest.raises(ValueError, match="comma-separated integers"):
        parse_seeds("0;1")
    with pytest.raises(ConfigError, match="--engine must be one of vllm, transformers, openai"):
        build_generator("m", RolloutSettings(engine="tgi"))
    assert RolloutSettings().sampling == Sampling(0.0, 1.0, 512, 0)


def test_http_server_without_vllm_extensions(hf_generator):
    class StrictServer(ChatServer):
        def answer(self, body):
            # OpenAI's own API rejects parameters it does not know.
            if "return_token_ids" in body:
                self.requests.append(body)
                return 400, {"error": {"message": "Unrecognized request argument supplied: return_token_ids"}}
            return super().answer(body)

    with StrictServer(hf_generator, max_model_len=4096) as server:
        remote = OpenAIGenerator(server.base_url, "tiny", tokenizer=hf_generator.tokenizer)
        ids = render_prompt(hf_generator.tokenizer, CHATS[0])
        [gen] = remote.generate([Prompt(CHATS[0], ids, 4)], Sampling())
        [local] = hf_generator.generate([Prompt(CHATS[0], ids, 4)], Sampling())
    # Retried once without the extension; token ids then come from re-tokenizing the text locally.
    assert ["return_token_ids" in r for r in server.requests] == [True, False]
    assert gen.text == local.text
    assert gen.token_ids == hf_generator.tokenizer(local.text, add_special_tokens=False)["input_ids"]
