"""Agents for the DB Bench harness: callables `agent(messages) -> str`, made per task by a factory.

- `oracle_agent(task)`: runs the gold SQL of INSERT/UPDATE/DELETE samples one statement per turn, and answers
  SELECT-type samples with the label; scoring 100% validates a database set-up and the grader.
- `ReplayAgents(replay)`: plays the assistant turns of a `{"index": i, "turns": [...]}` file, so transcripts
  produced anywhere are graded under the exact rules (a missing turn is an empty reply).
- `TransformersAgent(model_dir)`: greedy decoding with transformers (temperature 0, 512 new tokens), the
  simple model path until the rollout engine is wired in.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .task import DBTask

Agent = Callable[[list[dict[str, str]]], str]
AgentFactory = Callable[[DBTask], Agent]


class ContextLimitExceeded(Exception):
    """Raised by an agent whose prompt no longer fits; the episode ends as `agent context limit`."""


def operation_turn(sql: str, thought: str = "I will run this statement.") -> str:
    return f"{thought}\nAction: Operation\n```sql\n{sql}\n```"


def answer_turn(answer: list, thought: str = "I have the answer.") -> str:
    # repr of a list of str/int/float is a Python literal that parses back to the same list.
    return f"{thought}\nAction: Answer\nFinal Answer: {answer!r}"


def _scripted(turns: list[str]) -> Agent:
    remaining = list(turns)

    def agent(messages: list[dict[str, str]]) -> str:
        return remaining.pop(0) if remaining else ""

    return agent


def oracle_agent(task: DBTask) -> Agent:
    if task.mutating:
        turns = [operation_turn(sql) for sql in task.label] + [answer_turn([], "The change is done.")]
    else:
        turns = [answer_turn(list(task.label))]
    return _scripted(turns)


class ReplayAgents:
    def __init__(self, replay: dict[int, list[str]]):
        self.replay = replay

    def __call__(self, task: DBTask) -> Agent:
        return _scripted(self.replay.get(task.index, []))


class TransformersAgent:
    """Greedy transformers generation over the model's own chat template."""

    def __init__(self, model_dir: str | Path, max_new_tokens: int = 512, max_context_tokens: int = 8192):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir)
        self.model.eval()
        self.max_new_tokens = max_new_tokens
        self.max_context_tokens = max_context_tokens

    def __call__(self, messages: list[dict[str, str]]) -> str:
        import torch

        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                 return_dict=True)["input_ids"]
        if ids.shape[1] + self.max_new_tokens > self.max_context_tokens:
            raise ContextLimitExceeded(f"{ids.shape[1]} prompt tokens + {self.max_new_tokens} new > "
                                       f"{self.max_context_tokens}")
        with torch.no_grad():
            out = self.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                      max_new_tokens=self.max_new_tokens,
                                      pad_token_id=self.tokenizer.pad_token_id)
        return self.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)

    def factory(self, task: DBTask) -> Agent:
        return self
