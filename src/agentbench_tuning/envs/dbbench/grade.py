"""DB Bench parsing and grading, exactly as AgentBench v0.2 does it (plus the FC `main` answer comparison).

Model text is never evaluated: `parse_answer_list` uses `ast.literal_eval`, which gives the same list as
v0.2's `list(eval(text))` for every literal (lists, tuples, strings, numbers, sets, dicts) and, like v0.2's
bare `except`, falls back to `[raw_text]` otherwise (v0.2 would also evaluate expressions such as `[1+1]`;
those are model text we refuse to run, and they grade as the raw string).

    from agentbench_tuning.envs.dbbench.grade import answers_match, summarize
"""

from __future__ import annotations

import ast
import datetime
import decimal
import re
from collections import Counter
from typing import Any

from .task import SELECT_TYPES

# The three regexes of v0.2's DBBench.start_sample, verbatim in meaning.
ACTION_RE = re.compile(r"Action: (.*?)\n")
SQL_RE = re.compile(r"```sql\n([\s\S]*?)\n```")
ANSWER_RE = re.compile(r"\nFinal Answer:(.*)")
MAX_RESULT_CHARS = 800
TRUNCATED = "[TRUNCATED]"


def cut_result(text: str) -> str:
    """v0.2's Container.execute cuts every result or error to 800 characters plus a marker."""
    return text[:MAX_RESULT_CHARS] + TRUNCATED if len(text) > MAX_RESULT_CHARS else text


def parse_action(text: str) -> str | None:
    match = ACTION_RE.search(text)
    return match.group(1) if match else None


def parse_sql(text: str) -> str | None:
    """The first ```sql block, stripped, with newlines turned into spaces (v0.2 runs it as one line)."""
    match = SQL_RE.search(text)
    return match.group(1).strip().replace("\n", " ") if match else None


def parse_final_answer(text: str) -> str | None:
    match = ANSWER_RE.search(text)
    return match.group(1) if match else None


def parse_answer_list(answer: str) -> list[Any]:
    """v0.2: `try: ans = list(eval(ans)) except: ans = [ans]`, with a literal parser instead of eval."""
    try:
        return list(ast.literal_eval(answer))
    except Exception:  # noqa: BLE001 - v0.2's bare except: any failure keeps the raw text
        return [answer]


_RESULT_CALLS = {"Decimal": decimal.Decimal, "datetime.date": datetime.date, "datetime.datetime": datetime.datetime,
                 "datetime.timedelta": datetime.timedelta}


def _result_value(node: ast.AST) -> Any:
    if isinstance(node, (ast.List, ast.Tuple)):
        values = [_result_value(n) for n in node.elts]
        return values if isinstance(node, ast.List) else tuple(values)
    if isinstance(node, ast.Call) and not node.keywords:
        name = ast.unparse(node.func)
        if name in _RESULT_CALLS:
            return _RESULT_CALLS[name](*(_result_value(a) for a in node.args))
    return ast.literal_eval(node)


def parse_result_rows(text: str) -> list[tuple] | None:
    """The rows of a result text (`str(cursor.fetchall())`, with its `Decimal('6.00')` and `datetime.date(...)`
    values) without evaluating it; None for an error text or anything else."""
    try:
        rows = _result_value(ast.parse(text, mode="eval").body)
    except Exception:  # noqa: BLE001 - any text that is not a result list
        return None
    return rows if isinstance(rows, list) else None


def answers_match(answer: str, label: list[Any]) -> bool:
    """v0.2's SELECT-type comparison: single values by float then string equality, else set equality."""
    ans = parse_answer_list(answer)
    if len(ans) == 1 and len(label) == 1:
        try:
            return float(ans[0]) == float(label[0])
        except Exception:  # noqa: BLE001 - v0.2's bare except (ValueError, TypeError, OverflowError for 10**400)
            return ans[0] == label[0]
    try:
        return set(ans) == set(label)
    except TypeError:  # unhashable elements (a nested list): v0.2 counts it wrong
        return False


# ------------------------------------------------------------------ FC (`main` branch) comparison

_SPECIAL = {"none", "null", "undefined", "nan", "inf", "infinity", "-inf", "-infinity", ""}


def _normalize_fc(value: Any) -> str:
    text = str(value).strip()
    if text.endswith("%"):
        text = text[:-1].strip()
    if "," in text and not text.startswith("[") and not text.endswith("]"):
        text = text.replace(",", "")
    return "0" if text.lower() in _SPECIAL else text


def _clean_item(item: Any) -> str:
    value = item[0] if isinstance(item, tuple) and len(item) == 1 else item
    return _normalize_fc(str(value).strip().strip("'\""))


def _split_fc(inner: str) -> list[str]:
    """main's hand-written splitter for bracketed text that does not parse."""
    items, current, quoted = [], "", False
    for char in inner:
        if char in "\"'":
            quoted = not quoted
        elif char == "," and not quoted:
            if current:
                items.append(_normalize_fc(current.strip().strip("'\"")))
            current = ""
        else:
            current += char
    if current:
        items.append(_normalize_fc(current.strip().strip("'\"")))
    return items


def clean_answer_fc(answer: Any) -> list[str]:
    """main's DBResultProcessor._clean_answer (MySQL-result form, lists, bare values), without eval."""
    if answer is None:
        return ["0"]
    if isinstance(answer, (list, tuple)):
        return [_clean_item(x) for x in answer]
    text = str(answer)
    if text.startswith("[") and text.endswith("]"):
        try:
            parsed = ast.literal_eval(text)
        except Exception:  # noqa: BLE001
            parsed = None
        if isinstance(parsed, list) and all(isinstance(x, tuple) for x in parsed):
            return [_clean_item(x) for x in parsed if len(x) == 1]
        if isinstance(parsed, list):
            return [_clean_item(x) for x in parsed]
        if parsed is None:
            return _split_fc(text.strip()[1:-1])
    text = text.strip()
    return [_normalize_fc(text.strip("'\""))]


def _float_equal(a: str, b: str, tol: float = 1e-2) -> bool:
    try:
        return abs(float(a) - float(b)) <= tol
    except (ValueError, TypeError):
        return False


def _is_float(value: str) -> bool:
    try:
        float(value)
    except (ValueError, TypeError):
        return False
    return True


def answers_match_fc(answer: Any, label: list[Any]) -> bool:
    """main's compare_results for SELECT types: normalised strings, floats within 0.01, multiset of floats."""
    ans, gold = clean_answer_fc(answer), clean_answer_fc(label)
    if len(ans) == 1 and len(gold) == 1:
        if _is_float(ans[0]) and _is_float(gold[0]):
            return _float_equal(ans[0], gold[0])
        return ans[0] == gold[0]
    if all(map(_is_float, ans)) and all(map(_is_float, gold)):
        if len(ans) != len(gold):
            return False
        unused = list(gold)
        for a in ans:
            hit = next((i for i, g in enumerate(unused) if _float_equal(a, g)), None)
            if hit is None:
                return False
            unused.pop(hit)
        return True
    return set(ans) == set(gold)


# ------------------------------------------------------------------ table hash and metrics


def quote_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def hash_query(columns: list[str], table: str) -> str:
    """v0.2's table fingerprint, character for character (it runs on MySQL as the grader)."""
    cols = ",".join(quote_ident(c) for c in columns)
    return (f"select md5(group_concat(rowhash order by rowhash)) as hash "
            f"from( SELECT substring(MD5(CONCAT_WS(',', {cols})), 1, 5) AS rowhash FROM {quote_ident(table)}) as sub;")


ACCURACY_TYPES = (*SELECT_TYPES, "SELECT", "INSERT", "UPDATE")


def _accuracy(records: list[dict[str, Any]], typ: str) -> float:
    """v0.2's per-type accuracy; `SELECT` covers every type except INSERT and UPDATE (DELETE included)."""
    chosen = [r for r in records if r["type"] == typ or (typ == "SELECT" and r["type"] not in ("INSERT", "UPDATE"))]
    return sum(bool(r["verdict"]) for r in chosen) / len(chosen) if chosen else 0.0


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Pure statistics over episode records (`type`, `verdict`, `status` each): the v0.2 metric keys."""
    summary: dict[str, Any] = {f"{t}_accuracy": _accuracy(records, t) for t in ACCURACY_TYPES}
    summary["overall_cat_accuracy"] = sum(summary[f"{t}_accuracy"] for t in ("SELECT", "INSERT", "UPDATE")) / 3
    counts = Counter(r["status"] for r in records)
    summary["status"] = {s: n / len(records) for s, n in sorted(counts.items())} if records else {}
    summary["episodes"] = len(records)
    summary["type_counts"] = dict(sorted(Counter(r["type"] for r in records).items()))
    return summary
