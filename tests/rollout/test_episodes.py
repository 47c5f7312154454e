"""The episode runner with a scripted generator: batching, statuses, context rule, token bookkeeping."""

from __future__ import annotations

import pytest
from toy import ScriptedGenerator, ToyEnv

from agentbench_tuning.envs.base import COMPLETED, CONTEXT_LIMIT, TASK_ERROR, TASK_LIMIT
from agentbench_tuning.rollout.episodes import EpisodeSpec, Limits, run_episodes
from agentbench_tuning.rollout.generator import Sampling, render_prompt

SPECS = [EpisodeSpec(i, {"word": w}, type=t) for i, (w, t) in enumerate([("apple", "a"), ("pear", "b"), ("fig", "a")])]


def only_pear(prompt):
    return "pear" if "pear" in prompt.messages[2]["content"] else "no idea"


def test_batches_across_episodes_and_grades(tokenizers):
    gen = ScriptedGenerator(tokenizers["qwen2.5"], only_pear)
    out = run_episodes(gen, lambda: ToyEnv(max_rounds=3), SPECS, [0, 1], Sampling())
    # 3 tasks x 2 seeds all start together (concurrency 16): first batch 6. Both "pear" episodes finish
    # in round 1; the other 4 need rounds 2 and 3 before the task limit -> batches [6, 4, 4].
    assert gen.calls == [6, 4, 4]
    got = sorted((t.index, t.seed, t.status, len(t.turns), t.reward) for t in out)
    assert got == [
        (0, 0, TASK_LIMIT, 3, 0.0), (0, 1, TASK_LIMIT, 3, 0.0),
        (1, 0, COMPLETED, 1, 1.0), (1, 1, COMPLETED, 1, 1.0),
        (2, 0, TASK_LIMIT, 3, 0.0), (2, 1, TASK_LIMIT, 3, 0.0),
    ]


def test_concurrency_limit(tokenizers):
    gen = ScriptedGenerator(tokenizers["qwen2.5"], only_pear)
    run_episodes(gen, lambda: ToyEnv(max_rounds=2), SPECS, [0], Sampling(), Limits(concurrency=2))
    # Episodes 0 and 1 start; 1 finishes in round 1 so 2 joins 0: [2, 2]; then 2 alone for its 2nd round.
    assert gen.calls == [2, 2, 1]


def test_record_and_transcript(tokenizers):
    tok = tokenizers["qwen2.5"]
    [traj] = run_episodes(ScriptedGenerator(tok, only_pear), ToyEnv, SPECS[1:2], [7], Sampling())
    record = traj.to_record()
    assert record["index"] == 1 and record["seed"] == 7 and record["type"] == "b"
    assert record["status"] == COMPLETED and record["success"] is True and record["verdict"] == "correct"
    # The agent's own turn is flagged; the injected acknowledgement is not.
    assert record["messages"][-1] == {"role": "assistant", "content": "pear", "sampled": True}
    assert record["messages"][1] == {"role": "assistant", "content": "Ok."}
    # "pear" is one token in Qwen's vocabulary, plus <|im_end|>.
    assert record["completion_tokens"] == 2
    assert record["prompt_tokens"] == len(render_prompt(tok, record["messages"][:3]))
    from agentbench_tuning.records import RECORD_KEYS, validate_record

    assert set(record) == set(RECORD_KEYS)
    validate_record(record, "test")


def test_failed_actions_are_flagged(tokenizers):
    class Rejecting(ToyEnv):
        def step(self, action):
            result = super().step(action)
            result.info["action_failed"] = not result.done
            return result

    [traj] = run_episodes(ScriptedGenerator(tokenizers["qwen2.5"], lambda p: "no"), lambda: Rejecting(max_rounds=2),
                          SPECS[:1], [0], Sampling())
    sampled = [m for m in traj.to_record()["messages"] if m.get("sampled")]
    assert [m.get("failed", False) for m in sampled] == [True, False]


def test_context_limit_and_budget(tokenizers):
    tok = tokenizers["qwen2.5"]
    seen = []

    def remember(prompt):
        seen.append((len(prompt.ids), prompt.max_new_tokens))
        return "no"

    first_len = len(render_prompt(tok, _first_messages()))
    limits = Limits(max_context=first_len + 20)
    [traj] = run_episodes(ScriptedGenerator(tok, remember), lambda: ToyEnv(max_rounds=5), SPECS[:1], [0],
                          Sampling(max_new_tokens=512), limits)
    # Turn 1 has 20 tokens of room, so max_new_tokens is clamped 512 -> 20 (vLLM clamps the same way).
    assert seen[0] == (first_len, 20)
    # Each wrong round adds "no<|im_end|>\n" + a feedback turn + the assistant header; once the prompt
    # reaches max_context the episode ends as AgentBench's "agent context limit", before generating.
    assert traj.status == CONTEXT_LIMIT
    assert all(n < limits.max_context for n, _ in seen)
    assert traj.info["prompt_tokens"] >= limits.max_context


def _first_messages():
    env = ToyEnv()
    env.reset({"word": "apple"})
    return env.messages


def test_env_error_is_task_error(tokenizers):
    class Broken(ToyEnv):
        def step(self, action):
            raise RuntimeError("database went away")

    [traj] = run_episodes(ScriptedGenerator(tokenizers["qwen2.5"], only_pear), Broken, SPECS[:1], [0], Sampling())
    assert traj.status == TASK_ERROR
    assert traj.info["error"] == "RuntimeError: database went away"


def test_flatten_masks_model_tokens(tokenizers):
    tok = tokenizers["qwen2.5"]
    [traj] = run_episodes(ScriptedGenerator(tok, only_pear), lambda: ToyEnv(max_rounds=2), SPECS[:1], [0], Sampling())
    flat = traj.flatten()
    assert flat.prompt_ids == traj.turns[0].prompt_ids
    # Model tokens: "no idea<|im_end|>" twice; everything between them came from the environment.
    no_idea = tok("no idea", add_special_tokens=False)["input_ids"] + [151645]
    model_tokens = [t for t, m in zip(flat.completion_ids, flat.env_mask, strict=False) if m]
    assert model_tokens == no_idea * 2
    env_text = tok.decode([t for t, m in zip(flat.completion_ids, flat.env_mask, strict=False) if not m])
    assert env_text == "\n<|im_start|>user\nWrong, try again.<|im_end|>\n<|im_start|>assistant\n"
    # The whole sequence is exactly the second turn's prompt plus its completion.
    assert flat.prompt_ids + flat.completion_ids == traj.turns[1].prompt_ids + traj.turns[1].completion_ids
    assert flat.logprobs == [-0.5 if m else 0.0 for m in flat.env_mask]


def test_flatten_refuses_edited_history(tokenizers):
    class Editing(ToyEnv):
        @property
        def messages(self):
            # Like ALFWorld's harness: older turns are rewritten, so prompts are not append-only.
            return [dict(m, content=m["content"] + f" [{self.rounds}]") for m in self._messages]

    gen = ScriptedGenerator(tokenizers["qwen2.5"], only_pear)
    [traj] = run_episodes(gen, lambda: Editing(max_rounds=2), SPECS[:1], [0], Sampling())
    assert len(traj.turns) == 2 and traj.flatten() is None


def test_sampling_validation():
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        Sampling(temperature=-1)
    with pytest.raises(ValueError, match="max_new_tokens must be >= 1"):
        Sampling(max_new_tokens=0)


def test_rollout_fields_for_trl(tokenizers):
    from agentbench_tuning.rollout.episodes import rollout_fields

    class Editing(ToyEnv):
        @property
        def messages(self):
            return [dict(m, content=m["content"] + f" [{self.rounds}]") for m in self._messages]

    gen = ScriptedGenerator(tokenizers["qwen2.5"], only_pear)
    [plain] = run_episodes(gen, lambda: ToyEnv(max_rounds=2), SPECS[:1], [0], Sampling())
    [edited] = run_episodes(gen, lambda: Editing(max_rounds=2), SPECS[:1], [0], Sampling())
    fields = rollout_fields([plain, edited])
    assert fields["flattened"] == [True, False] and fields["status"] == [TASK_LIMIT, TASK_LIMIT]
    flat = plain.flatten()
    assert fields["completion_ids"][0] == flat.completion_ids and fields["env_mask"][0] == flat.env_mask
    # The edited episode contributes its last turn only: all of its completion tokens are the model's.
    assert fields["prompt_ids"][1] == edited.turns[-1].prompt_ids
    assert fields["env_mask"][1] == [1] * len(edited.turns[-1].completion_ids)
