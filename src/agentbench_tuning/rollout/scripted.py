"""Scripted agents (oracle, replay, expert, a user's policy) behind the generator protocol.

`ScriptedGenerator(make_agent)` answers each prompt with the text of that episode's own agent: the first
prompt of an episode creates the agent and calls `agent.begin(task, env)`; later prompts of the episode call
`agent.act(messages)`. So `run_episodes` plays scripted and model agents in one loop, with the same records.
With a tokenizer, the text is tokenized (ids end on the end-of-turn token) so token counts are comparable.

    generator = ScriptedGenerator(lambda: OracleAgent(), name="oracle")
    run_episodes(generator, make_env, specs, seeds=[0], sampling=Sampling())
"""

from __future__ import annotations

from collections.abc import Callable

from agentbench_tuning.envs.base import ScriptedAgent
from agentbench_tuning.rollout.generator import STOP, EpisodeRef, Generation, Prompt, Sampling, stop_token_ids


class ScriptedGenerator:
    def __init__(self, make_agent: Callable[[], ScriptedAgent], name: str | None = None, tokenizer=None):
        self.make_agent = make_agent
        self.tokenizer = tokenizer
        self.name = name
        self._agents: dict[EpisodeRef, ScriptedAgent] = {}

    def generate(self, prompts: list[Prompt], sampling: Sampling) -> list[Generation]:
        return [self._answer(prompt) for prompt in prompts]

    def _answer(self, prompt: Prompt) -> Generation:
        if prompt.episode is None:
            raise ValueError("a scripted agent needs Prompt.episode (the runner sets it); got a bare prompt")
        agent = self._agents.get(prompt.episode)
        if agent is None:
            agent = self._agents[prompt.episode] = self.make_agent()
            agent.begin(prompt.episode.task, prompt.episode.env)
        text = agent.act([dict(m) for m in prompt.messages])
        ids: list[int] = []
        if self.tokenizer is not None:
            ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"]) + stop_token_ids(self.tokenizer)[:1]
        return Generation(ids, None, text, STOP, prompt_ids=list(prompt.ids))

    def close(self) -> None:
        self._agents.clear()


def play_scripted(make_agent: Callable[[], ScriptedAgent], make_env: Callable, specs, seeds=(0,),
                  names: tuple[str, str] = ("", "scripted"), concurrency: int = 16) -> list[dict]:
    """Records of a scripted agent on `specs` through the shared runner (data generation, tests)."""
    from agentbench_tuning.config import Limits
    from agentbench_tuning.rollout.episodes import run_episodes

    generator = ScriptedGenerator(make_agent, name=names[1])
    trajectories = run_episodes(generator, make_env, specs, list(seeds), Sampling(), Limits(concurrency=concurrency))
    return [t.to_record(*names) for t in sorted(trajectories, key=lambda t: (t.seed, t.index))]


def play_episode(agent: ScriptedAgent, env, task, index: int = 0, seed: int = 0, type: str = "") -> dict:
    """One episode of one agent on one env: its record (a convenience over `play_scripted`)."""
    from agentbench_tuning.envs.base import EpisodeSpec

    [record] = play_scripted(lambda: agent, lambda: env, [EpisodeSpec(index, task, type)], [seed],
                             ("", getattr(agent, "name", "scripted")), concurrency=1)
    return record
