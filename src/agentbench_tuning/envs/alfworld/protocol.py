"""The AgentBench v0.2 ALFWorld harness rules as pure functions (parsing, snapping, text forms, history).

Each function reproduces one rule of v0.2's `alfworld/task.py`, `alfworld/utils.py` and `Session.filter_messages`
so the harness in `harness.py` reads as the sequence of rules and every rule has its own test.
"""

from __future__ import annotations

import re
import warnings

from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

BLEU_THRESHOLD = 0.01  # snap to the closest admissible command only when its BLEU is above this
HISTORY_SEGMENTS = 3500  # the history filter keeps about this many "segments" (roughly words)
_ACTION = re.compile("ACTION:(.*)")  # case-sensitive; `.` stops at the end of the line
_SMOOTH = SmoothingFunction().method4


def initial_observation(reset_text: str) -> str:
    """Drop the banner: the reset text's blocks after the first, joined by one newline."""
    return "\n".join(reset_text.split("\n\n")[1:])


def step_observation(feedback: str) -> str:
    """Cut the `You arrive at loc N. ` prefix (up to the first ". ")."""
    if feedback.startswith("You arrive at loc "):
        return feedback[feedback.find(". ") + 2 :]
    return feedback


def available_actions(admissible: list[str]) -> str:
    return " AVAILABLE ACTIONS: " + "\n".join(admissible) + "\n"


def drop_available_actions(content: str) -> str:
    """What v0.2 does to the previous user turn after a valid action: keep the text before the list."""
    return content.split("AVAILABLE ACTIONS")[0]


def bleu(reference: str, candidate: str) -> float:
    """NLTK sentence BLEU on whitespace tokens with smoothing method 4, as v0.2 computes it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NLTK warns on zero n-gram overlaps; the score is still defined
        return sentence_bleu([reference.split()], candidate.split(), smoothing_function=_SMOOTH)


def extract_action(output: str) -> str | None:
    """The action as written: text after `ACTION:` stripped, lower-cased, first line; None if absent or empty."""
    match = _ACTION.search(output)
    if match is None:
        return None
    return match.group(1).strip().lower().split("\n")[0] or None


def snap_action(action: str, admissible: list[str]) -> str:
    """Not admissible -> the admissible command with the highest BLEU if that score > 0.01 (the first on
    ties, as numpy's argmax), else the action as written."""
    if not admissible or action in admissible:
        return action
    scores = [bleu(choice, action) for choice in admissible]
    best = max(range(len(scores)), key=scores.__getitem__)
    return admissible[best] if scores[best] > BLEU_THRESHOLD else action


def parse_action(output: str, admissible: list[str]) -> str | None:
    """The command sent to the game for a raw model output, or None when v0.2 ends the episode
    (`ACTION:` missing, or an empty action, which v0.2 treats as falsy)."""
    action = extract_action(output)
    return None if action is None else snap_action(action, admissible)


def repeated_three(outputs: list[str]) -> bool:
    """v0.2's loop check: more than 3 steps logged and the last 3 raw outputs identical."""
    return len(outputs) > 3 and len(set(outputs[-3:])) == 1


def count_segments(text: str) -> int:
    """v0.2's length measure: alphabetic runs (split every 7 letters) plus every other non-space character."""
    segments, run = 0, 0
    for char in text:
        if char.isalpha():
            run += 1
            if run >= 7:
                segments, run = segments + 1, 0
        else:
            if run:
                segments, run = segments + 1, 0
            if char not in (" ", "\n"):
                segments += 1
    return segments + (1 if run else 0)


def filter_history(messages: list[dict[str, str]], limit: int = HISTORY_SEGMENTS) -> list[dict[str, str]]:
    """Keep the first message, then the newest messages that fit under `limit` segments (v0.2's rule).

    The oldest kept message must not be a user turn (so roles still alternate after the instruction); when
    messages were dropped, the instruction gets `\\n\\n[NOTICE] {n} messages are omitted.` appended.
    """
    if len(messages) % 2 != 1:
        raise ValueError(
            f"history filter needs an odd number of messages (ending with a user turn), got {len(messages)}"
        )
    kept: list[dict[str, str]] = []
    segments = count_segments(messages[0]["content"])
    for message in messages[:0:-1]:
        segments += count_segments(message["content"])
        if segments >= limit:
            break
        kept.append(message)
    if kept and kept[-1]["role"] == "user":
        kept.pop()
    instruction = messages[0]["content"]
    omitted = len(messages) - len(kept) - 1
    if omitted > 0:
        instruction += f"\n\n[NOTICE] {omitted} messages are omitted."
    kept.append({"role": messages[0]["role"], "content": instruction})
    return kept[::-1]
