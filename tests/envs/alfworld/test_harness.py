"""The harness's conversation and episode rules over a scripted backend whose every text is known."""

from __future__ import annotations

import pytest

from agentbench_tuning.envs.alfworld.harness import AlfworldEnv, GameState
from agentbench_tuning.envs.alfworld.prompts import Prompts
from agentbench_tuning.envs.alfworld.world import HEAT

PROMPTS = Prompts(
    instruction="INST",
    acknowledgement="ACK",
    examples={k: ["ex obs", "ACTION: ex act"] for k in ("put", "clean", "heat", "cool", "examine", "puttwo")},
)
RESET = "-= Welcome to TextWorld, ALFRED! =-\n\nYou are in the middle of a room.\n\nYour task is to: heat x."


class ScriptedGame:
    """Wins when it receives "win"; "boom" raises; anything else answers with an arrival line."""

    name = "scripted"
    task_type = HEAT

    def __init__(self):
        self.commands: list[str] = []

    def reset(self) -> GameState:
        return GameState(RESET, ["go to a 1", "win"], won=False, done=False)

    def step(self, command: str) -> GameState:
        self.commands.append(command)
        if command == "boom":
            raise RuntimeError("engine crashed")
        won = command == "win"
        return GameState(f"You arrive at loc 4. Saw {command}.", ["go to a 1", "win"], won=won, done=won)

    def progress(self):
        return None

    def close(self):
        pass


@pytest.fixture
def env():
    e = AlfworldEnv(prompts=PROMPTS)
    e.reset(ScriptedGame())
    return e


def test_initial_conversation(env):
    assert env.messages == [
        {"role": "user", "content": "INST"},
        {"role": "assistant", "content": "ACK"},
        {"role": "user", "content": "Here is one example.\nex obs"},
        {"role": "assistant", "content": "ACTION: ex act"},
        {
            "role": "user",
            "content": "Here is your task. You are in the middle of a room.\nYour task is to: heat x."
            " AVAILABLE ACTIONS: go to a 1\nwin\n",
        },
    ]


def test_step_drops_old_action_list_and_cuts_arrival(env):
    result = env.step("THOUGHT: hm.\n ACTION: go to a 1")
    assert not result.done and result.observation == "Saw go to a 1."
    assert env.messages[-3:] == [
        {
            "role": "user",
            "content": "Here is your task. You are in the middle of a room.\nYour task is to: heat x. ",
        },
        {"role": "assistant", "content": "THOUGHT: hm.\n ACTION: go to a 1"},
        {"role": "user", "content": "Saw go to a 1. AVAILABLE ACTIONS: go to a 1\nwin\n"},
    ]


def test_win_completes(env):
    env.step("ACTION: go to a 1")
    result = env.step("ACTION: WIN")
    assert result.done and result.reward == 1.0
    assert result.info["status"] == "completed" and result.info["won"] and result.info["steps"] == 2


def test_missing_action_is_invalid_and_keeps_the_list(env):
    result = env.step("I think I should win.")
    assert result.done and result.info == {
        "status": "agent invalid action",
        "won": False,
        "reward": 0.0,
        "steps": 0,
        "game": "scripted",
        "valid_action_fraction": 0.0,
        "action_failed": False,
    }
    assert env.transcript[-2]["content"].endswith(" AVAILABLE ACTIONS: go to a 1\nwin\n")
    assert env.game.commands == []


def test_three_identical_outputs_fail_even_when_the_third_wins():
    env = AlfworldEnv(prompts=PROMPTS)
    env.reset(ScriptedGame())
    env.step("ACTION: look")  # 1: no BLEU overlap with the list, sent raw
    env.step("ACTION: go to a 1")  # 2
    env.step("ACTION: go to a 1")  # 3: 3 steps logged, not yet checked
    r = env.step("ACTION: go to a 1")  # 4: last 3 identical -> fail
    assert r.done and r.info["status"] == "agent invalid action" and r.info["steps"] == 4


def test_repeat_check_precedes_done():
    class WinOnFourth(ScriptedGame):
        def step(self, command):
            self.commands.append(command)
            won = len(self.commands) == 4
            return GameState("x", ["win"], won=won, done=won)

    env = AlfworldEnv(prompts=PROMPTS)
    env.reset(WinOnFourth())
    for text in ("ACTION: a", "ACTION: win", "ACTION: win"):
        assert not env.step(text).done
    r = env.step("ACTION: win")  # the game is won, but this is the third identical output
    assert r.info["status"] == "agent invalid action" and r.info["won"] is False and r.reward == 0.0


def test_step_limit():
    env = AlfworldEnv(prompts=PROMPTS, max_steps=35)
    env.reset(ScriptedGame())
    for i in range(34):
        assert not env.step(f"ACTION: go to a 1 {i % 2}").done
    r = env.step("ACTION: go to a 1 9")
    assert r.done and r.info["status"] == "task limit reached" and r.info["steps"] == 35


def test_engine_error_is_unknown(env):
    r = env.step("ACTION: boom")
    assert r.done and r.info["status"] == "unknown" and r.info["error"] == "RuntimeError: engine crashed"


def test_context_limit(env):
    r = env.context_limit()
    assert r.done and r.info["status"] == "agent context limit" and r.reward == 0.0
    with pytest.raises(RuntimeError, match="after the episode ended"):
        env.step("ACTION: win")


def test_snapped_actions_count_as_not_valid(env):
    env.step("ACTION: go to a")  # snapped to "go to a 1"
    r = env.step("ACTION: win")
    assert env.log[0]["action"] == "go to a 1" and r.info["valid_action_fraction"] == 0.5


def test_long_history_is_filtered_but_transcript_is_not():
    env = AlfworldEnv(prompts=PROMPTS)
    env.reset(ScriptedGame())
    for i in range(30):
        env.step("THOUGHT: " + "word " * 150 + f"\n ACTION: go to a 1 {i % 2}")
    sent = env.messages
    assert sent[0]["content"].startswith("INST\n\n[NOTICE] ") and len(sent) < len(env.transcript)
    assert sent[1]["role"] == "assistant" and sent[-1] == env.transcript[-1]
