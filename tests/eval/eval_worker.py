"""Run a toy evaluation slowly, for the kill-and-resume test: python eval_worker.py OUT_DIR DELAY_S."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "rollout"))

from toy import ScriptedGenerator, ToyEnv  # noqa: E402

from agentbench_tuning.config import Limits, Sampling  # noqa: E402
from agentbench_tuning.envs.base import EpisodeSpec  # noqa: E402
from agentbench_tuning.eval.runner import play_and_record, summarize_run  # noqa: E402
from agentbench_tuning.models import offline_tokenizer  # noqa: E402
from agentbench_tuning.records import RecordWriter  # noqa: E402

WORDS = ["apple", "pear", "fig", "plum", "kiwi", "lime"]


def specs():
    return [EpisodeSpec(i, {"word": w}, type="even" if i % 2 == 0 else "odd") for i, w in enumerate(WORDS)]


def reply_even(delay_s: float):
    def reply(prompt):
        time.sleep(delay_s)
        word = prompt.messages[2]["content"].removeprefix("Say: ")
        return word if WORDS.index(word) % 2 == 0 else "pass"

    return reply


def evaluate_toy(out_dir, generator) -> dict:
    """The evaluation loop of `eval.runner.evaluate` over the toy env: play what is missing, summarize."""
    with RecordWriter(Path(out_dir) / "records.jsonl") as writer:
        play_and_record(generator, lambda: ToyEnv(max_rounds=2), specs(), (0, 1), Sampling(),
                        Limits(concurrency=1), writer, ("toy", "scripted"))
    return summarize_run(Path(out_dir), specs(), (0, 1), extra={"sampling": {"max_new_tokens": 512}})


def main(out_dir: str, delay_s: float) -> None:
    evaluate_toy(out_dir, ScriptedGenerator(offline_tokenizer("qwen2.5"), reply_even(delay_s)))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
