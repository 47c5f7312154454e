"""SFT conversations and DPO pairs from our own generators, played through the shared episode runner.

Every benchmark of the table names its generated training tasks (`sft_tasks(n, seed)`) and its expert; the
expert plays them with `play_scripted` (the same loop as evaluation), and the records become conversations
by the one rule of `data.from_runs`: the agent's own turns are trained unless the environment rejected them;
the instruction, acknowledgement, few-shot turns and observations are context. An expert that loses a game
is a bug in the generator, and stops the build.

    conversations = generated_sft("alfworld-sim", n=600, seed=1)
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

from agentbench_tuning.config import EvalSettings
from agentbench_tuning.data.from_runs import training_messages
from agentbench_tuning.envs.base import EpisodeSpec
from agentbench_tuning.envs.benchmarks import get_benchmark
from agentbench_tuning.rollout.scripted import play_scripted


def expert_records(benchmark: str, n: int, seed: int, prompt_file: str | None = None) -> list[dict[str, Any]]:
    """The benchmark's expert on `n` generated training tasks; every episode must be won."""
    bench = get_benchmark(benchmark)
    settings = EvalSettings(benchmark=benchmark, agent="expert", prompt_file=prompt_file)
    specs = bench.sft_tasks(n, seed)
    envs = bench.open_envs(settings)
    try:
        records = play_scripted(bench.agents["expert"](settings), envs.make_env, specs, names=(benchmark, "expert"))
    finally:
        envs.close()
    lost = [r for r in records if not r["success"]]
    if lost:
        raise AssertionError(f"{benchmark}: the expert lost {len(lost)} of {len(records)} generated tasks, e.g. "
                             f"index {lost[0]['index']} ({lost[0]['status']}, {lost[0]['info'].get('error', '')})")
    return records


def data_task(benchmark: str) -> str:
    """The `task` label of a conversation (stratified splits): the benchmark family."""
    return benchmark.split("-")[0]


def generated_sft(benchmark: str, n: int, seed: int = 1) -> list[dict[str, Any]]:
    """n expert conversations for SFT (what the `gen:<benchmark>:N` data source reads)."""
    return [{"messages": training_messages(r["messages"]), "task": data_task(benchmark),
             "source": f"{data_task(benchmark)}/{r['type']}", "index": r["index"], "seed": seed,
             "task_type": r["type"], "won": r["success"], "status": r["status"], "steps": r["turns"]}
            for r in expert_records(benchmark, n, seed)]


def alfworld_step_samples(n: int, seed: int = 1, prompt_file: str | None = None,
                          specs: Sequence[EpisodeSpec] | None = None) -> Iterator[dict[str, Any]]:
    """One sample per expert step: the chat exactly as the harness sent it then (history filter applied,
    the action list in the newest turn only) plus the expert's output, the one trained turn (the earlier
    assistant turns were trained under their own prompts, in their own samples). Exact prompts, more tokens.
    `specs` replaces the benchmark's generated training games (e.g. easier worlds); `prompt_file` the prompt."""
    for spec, recorder in _expert_steps(n, seed, prompt_file, specs):
        for step, item in enumerate(recorder.steps):
            context = [{**m, "loss": False} if m["role"] == "assistant" else dict(m) for m in item["messages"]]
            yield {"messages": [*context, {"role": "assistant", "content": item["output"], "loss": True}],
                   "task": "alfworld", "index": spec.index, "seed": seed, "task_type": spec.type, "step": step}


def alfworld_listed_conversations(n: int, seed: int = 1, prompt_file: str | None = None,
                                  specs: Sequence[EpisodeSpec] | None = None) -> Iterator[dict[str, Any]]:
    """One conversation per expert game in which every observation keeps the action list it was sent with
    (v0.2 removes it from all but the newest turn): every expert turn is trained in one sequence under a
    context that differs from the harness's only by the older lists. About 5x cheaper per trained turn than
    `alfworld_step_samples`, and the model learns to choose from a list, which whole recorded conversations
    (`generated_sft`, no lists at all) never show it."""
    for spec, recorder in _expert_steps(n, seed, prompt_file, specs):
        last = recorder.steps[-1]["messages"]
        first = len(last) - 1 - 2 * (len(recorder.steps) - 1)  # the task turn: step k answers turn first + 2k
        messages = []
        for i, message in enumerate(last):
            item = dict(message)
            if i >= first and item["role"] == "user":
                item["content"] = recorder.steps[(i - first) // 2]["messages"][-1]["content"]
            if item["role"] == "assistant":
                item["loss"] = i > first
            messages.append(item)
        messages.append({"role": "assistant", "content": recorder.steps[-1]["output"], "loss": True})
        yield {"messages": messages, "task": "alfworld", "source": f"alfworld/{spec.type}", "index": spec.index,
               "seed": seed, "task_type": spec.type, "steps": len(recorder.steps)}


def alfworld_failures(n: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    """Lost episodes of an expert that derails into random commands (for DPO rejected sides or analysis);
    episodes the random tail happens to win are skipped."""
    from agentbench_tuning.envs.alfworld.agents import DerailedExpert

    for spec in get_benchmark("alfworld-sim").sft_tasks(n, seed):
        rng = random.Random(spec.task.seed)
        [record] = _play_alfworld(lambda rng=rng: DerailedExpert(rng.randint(0, 4), rng), [spec])
        if not record["success"]:
            yield {"messages": training_messages(record["messages"]), "index": spec.index, "seed": seed,
                   "task_type": spec.type, "won": False, "status": record["status"], "steps": record["turns"]}


def alfworld_step_pairs(n: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    """At every expert step: prompt = the chat as sent, chosen = the expert's output, rejected = a wrong
    admissible command."""
    from agentbench_tuning.envs.alfworld.agents import ExpertAgent, StepRecorder

    for spec in get_benchmark("alfworld-sim").sft_tasks(n, seed):
        recorder = StepRecorder(ExpertAgent(), rng=random.Random(spec.task.seed))
        _play_alfworld(lambda r=recorder: r, [spec])
        for item in recorder.steps:
            if item["wrong"]:
                yield {"prompt": item["messages"], "chosen": item["output"], "rejected": item["wrong"],
                       "task_type": spec.type, "seed": spec.task.seed}


def _expert_steps(n: int, seed: int, prompt_file: str | None, specs: Sequence[EpisodeSpec] | None):
    """(spec, StepRecorder) per won expert game: the chat the harness sent at every step and the expert's answer."""
    from agentbench_tuning.envs.alfworld.agents import ExpertAgent, StepRecorder

    for spec in specs if specs is not None else get_benchmark("alfworld-sim").sft_tasks(n, seed):
        recorder = StepRecorder(ExpertAgent())
        [record] = _play_alfworld(lambda r=recorder: r, [spec], prompt_file)
        if not record["success"]:
            raise AssertionError(f"expert lost simulator game {spec.index} ({record['status']})")
        yield spec, recorder


def _play_alfworld(make_agent, specs, prompt_file: str | None = None) -> list[dict[str, Any]]:
    bench = get_benchmark("alfworld-sim")
    envs = bench.open_envs(EvalSettings(benchmark="alfworld-sim", agent="expert", prompt_file=prompt_file))
    try:
        return play_scripted(make_agent, envs.make_env, specs, names=("alfworld-sim", "expert"), concurrency=1)
    finally:
        envs.close()
