"""v0.2 rules one by one: observation cuts, ACTION parsing, BLEU snapping, the loop check, the history filter."""

from __future__ import annotations

import pytest
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from agentbench_tuning.envs.alfworld.protocol import (
    available_actions,
    bleu,
    count_segments,
    drop_available_actions,
    filter_history,
    initial_observation,
    parse_action,
    repeated_three,
    step_observation,
)

CHOICES = ["go to cabinet 1", "go to cabinet 2", "inventory", "look", "take apple 1 from countertop 1"]


def test_observation_cuts():
    reset = "-= Welcome to TextWorld, ALFRED! =-\n\nYou are in the middle of a room.\n\nYour task is to: x."
    assert initial_observation(reset) == "You are in the middle of a room.\nYour task is to: x."
    assert step_observation("You arrive at loc 12. The fridge 1 is closed.") == "The fridge 1 is closed."
    assert (
        step_observation("You open the fridge 1. The fridge 1 is open.")
        == "You open the fridge 1. The fridge 1 is open."
    )
    assert available_actions(["look", "inventory"]) == " AVAILABLE ACTIONS: look\ninventory\n"
    # The previous turn keeps everything before the list, including the space in front of it.
    assert drop_available_actions("Obs." + available_actions(["look"])) == "Obs. "


@pytest.mark.parametrize(
    "output, expected",
    [
        ("THOUGHT: go.\n ACTION: go to cabinet 2\n", "go to cabinet 2"),  # exact admissible command
        ("ACTION:   LOOK  ", "look"),  # stripped and lower-cased
        ("ACTION: look\nmore text", "look"),  # first line only
        # `.*` takes the rest of the line ("go to cabinet 1 action: look"), which BLEU then snaps back.
        ("ACTION: go to cabinet 1 ACTION: look", "go to cabinet 1"),
        ("Action: look", None),  # case-sensitive: no match
        ("I will look around.", None),  # no ACTION at all
        ("ACTION:   \n", None),  # empty action is falsy in v0.2
        ("ACTION: take apple from countertop 1", "take apple 1 from countertop 1"),  # BLEU 0.308 snaps
        ("ACTION: cabinet", "go to cabinet 1"),  # tie 0.0498: first in list wins
        ("ACTION: apple", "apple"),  # best BLEU 0.0067 <= 0.01: sent raw
        ("ACTION: fly away", "fly away"),  # no overlap: sent raw
    ],
)
def test_parse_action(output, expected):
    assert parse_action(output, CHOICES) == expected


def test_no_admissible_list_sends_action_raw():
    assert parse_action("ACTION: Dance", []) == "dance"


def test_bleu_is_nltk_method4():
    # Hand-checked values; the second number is NLTK called the way v0.2 calls it.
    ref, cand = "take apple 1 from countertop 1", "take apple from countertop 1"
    expected = sentence_bleu([ref.split()], cand.split(), smoothing_function=SmoothingFunction().method4)
    assert bleu(ref, cand) == expected == pytest.approx(0.30835, abs=1e-5)
    assert bleu("take apple 1 from countertop 1", "apple") == pytest.approx(0.00674, abs=1e-5)


def test_repeated_three_needs_more_than_three_steps():
    assert not repeated_three(["a", "a", "a"])  # 3 logged: not yet checked
    assert repeated_three(["b", "a", "a", "a"])  # 4 logged, last 3 identical
    assert not repeated_three(["a", "a", "b", "a"])
    assert not repeated_three(["a ", "a", "a", "a "])  # raw outputs compared exactly


def test_count_segments():
    # "hello"=1, ","=1, "world"=1, "!"=1 ; "abcdefghij" = 7 letters (1) + "hij" (1) ; digits count one each.
    assert count_segments("hello, world!") == 4
    assert count_segments("abcdefghij") == 2
    assert count_segments("abcdefg hi") == 2  # a 7-letter run closes its segment; the space adds nothing
    assert count_segments("go to loc 12.") == 6
    assert count_segments("") == 0


def test_filter_history_keeps_everything_under_limit():
    msgs = [
        {"role": "user", "content": "inst"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "go"},
    ]
    assert filter_history(msgs) == msgs


def test_filter_history_drops_oldest_and_notes_it():
    # Each message below is 1 segment; the instruction is 1. Limit 4: instruction(1) + "uc" + "ac" = 3 fit,
    # "ub" makes 4 >= 4 and stops. 7 messages - 2 kept - the instruction = 4 omitted.
    msgs = [{"role": "user", "content": "inst"}]
    for i in range(3):
        msgs += [
            {"role": "assistant", "content": f"a{chr(97 + i)}"},
            {"role": "user", "content": f"u{chr(97 + i)}"},
        ]
    out = filter_history(msgs, limit=4)
    assert out == [
        {"role": "user", "content": "inst\n\n[NOTICE] 4 messages are omitted."},
        {"role": "assistant", "content": "ac"},
        {"role": "user", "content": "uc"},
    ]


def test_filter_history_needs_odd_length():
    with pytest.raises(ValueError, match="odd number"):
        filter_history([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}])


def test_filter_history_never_starts_with_a_user_turn_after_the_instruction():
    # Limit 3: "uc"(1) fits (2), "ac" makes 3 and stops; the kept "uc" is a user turn and is popped, so only
    # the instruction (with the notice) is left: 6 omitted.
    msgs = [{"role": "user", "content": "inst"}]
    for i in range(3):
        msgs += [
            {"role": "assistant", "content": f"a{chr(97 + i)}"},
            {"role": "user", "content": f"u{chr(97 + i)}"},
        ]
    assert filter_history(msgs, limit=3) == [
        {"role": "user", "content": "inst\n\n[NOTICE] 6 messages are omitted."}
    ]
