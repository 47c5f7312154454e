"""Answer parsing and comparison exactly as v0.2's DBBench.metrics (without eval), and the FC variant."""

from __future__ import annotations

import pytest

from agentbench_tuning.envs.dbbench.grade import (
    answers_match,
    answers_match_fc,
    cut_result,
    parse_action,
    parse_answer_list,
    parse_final_answer,
    parse_result_rows,
    parse_sql,
    summarize,
)

# (captured answer text, label, v0.2 verdict, why)
CASES = [
    (' ["Vienna"]', ["Vienna"], True, "a one-element list equal as strings"),
    (" Vienna", ["Vienna"], False, "unbracketed: not a literal, kept raw with its leading space"),
    (' "Vienna"', ["Vienna"], False, "a quoted string is iterated into letters: 6 elements vs 1"),
    (' ["42.0"]', ["42"], True, "single values compare as floats: 42.0 == 42.0"),
    (' "42"', ["42"], False, 'the string "42" becomes [\'4\', \'2\']: two elements, set differs'),
    (" 42", ["42"], True, "list(42) fails, so [' 42'], and float(' 42') == 42.0"),
    (" [42]", ["42"], True, "single values: float(42) == float('42')"),
    (" [3, 5]", ["3", "5"], False, "multi-element sets are type-sensitive: {3, 5} != {'3', '5'}"),
    (' ["5", "3", "3"]', ["3", "5"], True, "set comparison ignores order and duplicates"),
    (' ["Vienna", "Graz"]', ["Vienna"], False, "two elements vs one: set comparison"),
    (" ['vienna']", ["Vienna"], False, "string equality is case-sensitive in the grader"),
    (" [1+1]", ["2"], False, "an expression is not a literal; we never evaluate it, so it stays raw text"),
    ("", ["0"], False, "an empty answer (validation failed) is [''], not a number"),
    (" []", [], True, "two empty lists are equal sets"),
]


@pytest.mark.parametrize(("answer", "label", "verdict", "why"), CASES)
def test_v02_answer_comparison(answer, label, verdict, why):
    assert answers_match(answer, label) is verdict, why


def test_parse_answer_list_never_evaluates():
    # __import__ would run under eval; literal_eval refuses it, so the raw text is the single element.
    text = ' __import__("os").system("true")'
    assert parse_answer_list(text) == [text]


def test_action_regexes():
    assert parse_action("x\nAction: Operation\n```sql\nSELECT 1\n```") == "Operation"
    assert parse_action("Action: Operation") is None  # no newline after it: v0.2 finds no action
    assert parse_action("Action: Operation ```sql\n") == "Operation ```sql"  # lazy match runs to the newline
    assert parse_sql("```sql\nSELECT a\nFROM t;\n```\n```sql\nSELECT 2;\n```") == "SELECT a FROM t;"
    assert parse_sql("```sql SELECT 1```") is None  # needs a newline after ```sql and before ```
    assert parse_final_answer('Action: Answer\nFinal Answer: ["a"]\nmore') == ' ["a"]'
    assert parse_final_answer('Final Answer: ["a"]') is None  # needs a newline before it


def test_cut_result():
    assert cut_result("x" * 800) == "x" * 800
    assert cut_result("x" * 801) == "x" * 800 + "[TRUNCATED]"


@pytest.mark.parametrize(("answer", "label", "verdict"), [
    ('["42.001"]', ["42"], True),  # FC compares floats within 0.01
    ("Vienna", ["Vienna"], True),  # FC accepts a bare value
    ('["1,234"]', ["1234"], True),  # thousands separators are dropped
    ("[(5,), (3,)]", ["3", "5"], True),  # a pasted MySQL result is accepted
    ('["3", "5", "9"]', ["3", "5"], False),  # numeric lists need the same length
    ("null", ["0"], True),  # special values normalise to "0"
])
def test_fc_comparison(answer, label, verdict):
    assert answers_match_fc(answer, label) is verdict


def test_summarize_v02_metrics():
    records = [
        {"type": "counting", "verdict": True, "status": "completed"},
        {"type": "other", "verdict": False, "status": "agent validation failed"},
        {"type": "DELETE", "verdict": True, "status": "completed"},  # v0.2 counts DELETE under SELECT
        {"type": "INSERT", "verdict": True, "status": "completed"},
        {"type": "UPDATE", "verdict": False, "status": "task limit reached"},
    ]
    s = summarize(records)
    assert s["SELECT_accuracy"] == pytest.approx(2 / 3)
    assert s["INSERT_accuracy"] == 1.0 and s["UPDATE_accuracy"] == 0.0
    assert s["overall_cat_accuracy"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert s["ranking_accuracy"] == 0.0  # absent types score 0, as v0.2 does
    assert s["status"] == {"agent validation failed": 0.2, "completed": 0.6, "task limit reached": 0.2}


# ------------------------------------------------------------------ the grader never raises on model text

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ODD_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
SCALARS = st.one_of(
    st.integers(min_value=-(10**400), max_value=10**400), st.floats(allow_nan=True, allow_infinity=True),
    ODD_TEXT, st.booleans(), st.none(), st.complex_numbers(allow_nan=True, allow_infinity=True), st.binary(max_size=8),
)
LITERALS = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner), st.dictionaries(ODD_TEXT, inner, max_size=3),
    st.frozensets(st.integers(), max_size=3)), max_leaves=20)
LABELS = st.lists(st.one_of(ODD_TEXT, st.integers(min_value=-(10**30), max_value=10**30), st.floats()), max_size=4)


def grades(answer_text: str, label) -> None:
    assert answers_match(answer_text, label) in (True, False)
    assert answers_match_fc(answer_text, label) in (True, False)
    assert isinstance(parse_answer_list(answer_text), list)


@settings(max_examples=400, deadline=None)
@given(text=st.text(max_size=300), label=LABELS)
def test_grader_never_raises_on_any_text(text, label):
    grades(text, label)
    grades(" " + text, label)


@settings(max_examples=400, deadline=None)
@given(value=LITERALS, label=LABELS)
def test_grader_never_raises_on_any_literal(value, label):
    grades(" " + repr(value), label)
    grades(" [" + repr(value) + "]", label)


@pytest.mark.parametrize("text", [
    " [" + "9" * 400 + "]",  # float() of a 400-digit int overflows (issue 13)
    " " + "9" * 5000,  # beyond Python's int-string limit
    " " + "[" * 100_000 + "]" * 100_000,  # deeper than the parser allows
    " [1e999, -1e999, nan]", " [float('nan')]", " ['\\ud800']", " ['\\x00\\u202e\\ufeff']",
    " {" * 300, " [" + "'a'," * 50_000 + "]",
])
def test_grader_survives_hostile_answers(text):
    for label in (["1"], ["a", "b"], [], ["9" * 400]):
        grades(text, label)
    # float(int) overflows, so v0.2's except path compares the values themselves: the int 99..9 != the str '99..9'
    assert answers_match(" [" + "9" * 400 + "]", ["9" * 400]) is False
    assert answers_match(' ["' + "9" * 400 + '"]', ["9" * 400]) is True  # float('99..9') == inf on both sides


def test_parse_result_rows_reads_mysql_values_without_eval():
    from datetime import date
    from decimal import Decimal

    assert parse_result_rows("[(Decimal('6.00'), 2, 'a', None, datetime.date(1901, 3, 3))]") == [
        (Decimal("6.00"), 2, "a", None, date(1901, 3, 3))]
    assert parse_result_rows("[(-1.5,)]") == [(-1.5,)]
    assert parse_result_rows("1054 (42S22): Unknown column 'x' in 'SELECT'") is None
    assert parse_result_rows("[(__import__('os').system('true'),)]") is None
    assert parse_result_rows("[(Decimal(__import__('os').getcwd()),)]") is None
