"""Run a toy evaluation slowly, for the kill-and-resume test: python eval_worker.py OUT_DIR DELAY_S."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "rollout"))

from toy import ScriptedGenerator, ToyEnv  # noqa: E402

from agentbench_tuning.eval.runner import EvalSettings, evaluate_model  # noqa: E402
from agentbench_tuning.models import offline_tokenizer  # noqa: E402
from agentbench_tuning.rollout.episodes import EpisodeSpec, Limits  # noqa: E402

WORDS = ["apple", "pear", "fig", "plum", "kiwi", "lime"]


def specs():
    return [EpisodeSpec(i, {"word": w}, type="even" if i % 2 == 0 else "odd") for i, w in enumerate(WORDS)]


def reply_even(delay_s: float):
    def reply(prompt):
        time.sleep(delay_s)
        word = prompt.messages[2]["content"].removeprefix("Say: ")
        return word if WORDS.index(word) % 2 == 0 else "pass"

    return reply


def main(out_dir: str, delay_s: float) -> None:
    generator = ScriptedGenerator(offline_tokenizer("qwen2.5"), reply_even(delay_s))
    settings = EvalSettings(seeds=(0, 1), limits=Limits(concurrency=1))
    evaluate_model(lambda: ToyEnv(max_rounds=2), specs(), generator, settings, out_dir)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
