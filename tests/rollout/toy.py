"""A small environment and a scripted generator for tests, following envs/base.py.

ToyEnv: the task is a word; the harness asks the model to say it; a reply containing the word completes the
episode with reward 1; any other reply gets "Wrong, try again." and after `max_rounds` replies the status is
`task limit reached`. The chat grows append-only (instruction, acknowledgement, question, then alternating
model replies and feedback), like DB Bench's.
"""

from __future__ import annotations

from agentbench_tuning.envs.base import COMPLETED, CONTEXT_LIMIT, TASK_LIMIT, StepResult
from agentbench_tuning.rollout.generator import STOP, Generation, Prompt, Sampling


class ToyEnv:
    def __init__(self, max_rounds: int = 3, padding_words: int = 0):
        self.max_rounds = max_rounds
        self.padding_words = padding_words  # makes the instruction long, to hit context limits
        self._messages: list[dict[str, str]] = []

    def reset(self, task, seed=None) -> str:
        self.word = task["word"]
        self.rounds = 0
        instruction = "Repeat the word you are given. " + "filler " * self.padding_words
        question = f"Say: {self.word}"
        self._messages = [
            {"role": "user", "content": instruction.strip()},
            {"role": "assistant", "content": "Ok."},
            {"role": "user", "content": question},
        ]
        return question

    @property
    def messages(self) -> list[dict[str, str]]:
        return list(self._messages)

    transcript = messages

    def step(self, action: str) -> StepResult:
        self.rounds += 1
        self._messages.append({"role": "assistant", "content": action})
        if self.word in action:
            return StepResult("Correct.", 1.0, True, {"status": COMPLETED, "reward": 1.0, "verdict": "correct"})
        if self.rounds >= self.max_rounds:
            return StepResult("", 0.0, True, {"status": TASK_LIMIT, "reward": 0.0, "verdict": "wrong"})
        self._messages.append({"role": "user", "content": "Wrong, try again."})
        return StepResult("Wrong, try again.", 0.0, False, {})

    def context_limit(self) -> StepResult:
        return StepResult("", 0.0, True, {"status": CONTEXT_LIMIT, "reward": 0.0, "verdict": "no room"})


class ScriptedGenerator:
    """Answers from a rule instead of a model: `reply(prompt) -> text`. Token ids are real (tokenizer)."""

    def __init__(self, tokenizer, reply):
        self.tokenizer = tokenizer
        self.reply = reply
        self.calls: list[int] = []  # batch sizes, to check batching across episodes

    def generate(self, prompts: list[Prompt], sampling: Sampling) -> list[Generation]:
        self.calls.append(len(prompts))
        out = []
        for p in prompts:
            text = self.reply(p)
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"] + [
                self.tokenizer.convert_tokens_to_ids("<|im_end|>")
            ]
            out.append(Generation(ids, [-0.5] * len(ids), text, STOP, prompt_ids=list(p.ids)))
        return out

    def close(self) -> None:
        pass
