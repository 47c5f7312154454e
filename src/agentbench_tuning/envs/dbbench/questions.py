"""Question builders for the DB Bench generator: one per sample type, each returning a `Question` with the
description, the gold SQL and (for SELECT types) the answer worked out in Python from the table.

Gold SQL quotes identifiers with backticks, compares text with quoted literals and casts numeric TEXT
columns (`CAST(col AS DECIMAL(10,2))`), so it means the same on MySQL and on the SQLite backend.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from .grade import quote_ident as q
from .tables import ColumnSpec, Table, value_for


@dataclass
class Question:
    type: str
    description: str
    sql: list[str]
    label: list[str] = field(default_factory=list)  # SELECT types; mutating types carry the SQL as label
    plan: str = ""  # the expert's explanation of its first query


def lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def num(col: ColumnSpec) -> str:
    return f"CAST({q(col.name)} AS DECIMAL(10,2))"


def _numeric(table: Table) -> list[ColumnSpec]:
    return [c for c in table.columns[1:] if c.numeric]


def _plain(table: Table) -> list[ColumnSpec]:
    return [c for c in table.columns[1:] if not c.numeric]


def _category(table: Table) -> ColumnSpec | None:
    cats = [c for c in table.columns if c.kind == "category"]
    return cats[0] if cats else None


def _fmt(value: Decimal) -> str:
    return str(value.normalize()) if value == value.to_integral() else str(value)


def other(t: Table, rng: random.Random) -> Question | None:
    key, ent = t.columns[0], t.theme.entity
    cat = _category(t)
    if cat is not None and rng.random() < 0.4:
        value = rng.choice(t.values(cat))
        keys = [r[0] for r in t.rows if r[t.column_index(cat)] == value]
        return Question("other", f"Which {ent}s have {cat.name} {value}? List them all.",
                        [f"SELECT {q(key.name)} FROM {q(t.name)} WHERE {q(cat.name)} = {lit(value)};"], keys,
                        f"I need every {key.name} whose {cat.name} is {value}, so I filter on that column.")
    row = rng.choice(t.rows)
    col = rng.choice(t.columns[1:])
    return Question("other", f"What is the {col.name} of the {ent} {row[0]}?",
                    [f"SELECT {q(col.name)} FROM {q(t.name)} WHERE {q(key.name)} = {lit(row[0])};"],
                    [row[t.column_index(col)]],
                    f"I need the {col.name} of the row whose {key.name} is {row[0]}.")


def counting(t: Table, rng: random.Random) -> Question | None:
    ent, cat, nums = t.theme.entity, _category(t), _numeric(t)
    if cat is not None and (not nums or rng.random() < 0.5):
        value = rng.choice(t.values(cat))
        n = t.values(cat).count(value)
        return Question("counting", f"How many {ent}s have {cat.name} {value}?",
                        [f"SELECT COUNT(*) FROM {q(t.name)} WHERE {q(cat.name)} = {lit(value)};"], [str(n)],
                        f"I count the rows whose {cat.name} is {value}.")
    if not nums:
        return None
    col = rng.choice(nums)
    bound = Decimal(rng.choice(t.values(col)))
    n = sum(Decimal(v) > bound for v in t.values(col))
    return Question("counting", f"How many {ent}s have a {col.name} greater than {_fmt(bound)}?",
                    [f"SELECT COUNT(*) FROM {q(t.name)} WHERE {num(col)} > {_fmt(bound)};"], [str(n)],
                    f"I count the rows with {col.name} above {_fmt(bound)}. The column stores numbers as text, "
                    "so I cast it before comparing.")


def comparison(t: Table, rng: random.Random) -> Question | None:
    nums = _numeric(t)
    if not nums:
        return None
    col, key = rng.choice(nums), t.columns[0]
    a, b = rng.sample(t.rows, 2)
    va, vb = Decimal(a[t.column_index(col)]), Decimal(b[t.column_index(col)])
    if va == vb:
        return None
    more = rng.random() < 0.5
    winner = a[0] if (va > vb) == more else b[0]
    word, order = ("higher", "DESC") if more else ("lower", "ASC")
    return Question("comparison", f"Which {t.theme.entity} has the {word} {col.name}, {a[0]} or {b[0]}?",
                    [f"SELECT {q(key.name)} FROM {q(t.name)} WHERE {q(key.name)} IN ({lit(a[0])}, {lit(b[0])}) "
                     f"ORDER BY {num(col)} {order} LIMIT 1;"], [winner],
                    f"I compare the {col.name} of {a[0]} and {b[0]}. The values are text, so I cast them to numbers "
                    "before ordering.")


def ranking(t: Table, rng: random.Random) -> Question | None:
    nums = _numeric(t)
    if not nums:
        return None
    col, key = rng.choice(nums), t.columns[0]
    values = [Decimal(v) for v in t.values(col)]
    top = rng.random() < 0.5
    best = max(values) if top else min(values)
    if values.count(best) != 1:
        return None  # ties would make LIMIT 1 arbitrary
    word, order = ("highest", "DESC") if top else ("lowest", "ASC")
    return Question("ranking", f"Which {t.theme.entity} has the {word} {col.name}?",
                    [f"SELECT {q(key.name)} FROM {q(t.name)} ORDER BY {num(col)} {order} LIMIT 1;"],
                    [t.rows[values.index(best)][0]],
                    f"I sort by {col.name}, cast to a number because it is stored as text, and take the first row.")


def aggregation(kind: str):
    def build(t: Table, rng: random.Random) -> Question | None:
        nums = _numeric(t)
        if not nums:
            return None
        col = rng.choice(nums)
        values = [Decimal(v) for v in t.values(col)]
        words = {"SUM": "total", "MIN": "smallest", "MAX": "largest", "AVG": "average"}
        if kind == "SUM":
            answer = sum(values)
        elif kind == "MIN":
            answer = min(values)
        elif kind == "MAX":
            answer = max(values)
        else:
            exact = sum(values) / len(values)
            if (exact * 100) % 1 == Decimal("0.5"):
                return None  # a half-way average rounds differently in DECIMAL and in floating point
            answer = exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        expr = f"ROUND(AVG({num(col)}), 2)" if kind == "AVG" else f"{kind}({num(col)})"
        desc = f"What is the {words[kind]} {col.name} of all {t.theme.entity}s in the table?"
        if kind == "AVG":
            desc += " Round it to two decimal places."
        return Question(f"aggregation-{kind}", desc, [f"SELECT {expr} FROM {q(t.name)};"], [_fmt(answer)],
                        f"I compute {kind} over {col.name}, casting the text values to numbers first.")

    return build


def insert(t: Table, rng: random.Random) -> Question | None:
    row = [value_for(c, rng, t.theme.category) for c in t.columns]
    if row[0].lower() in {k.lower() for k in t.values(t.columns[0])}:
        return None
    facts = ", ".join(f"{c.name} {v}" for c, v in zip(t.columns, row, strict=True))
    cols = ", ".join(q(c.name) for c in t.columns)
    vals = ", ".join(lit(v) for v in row)
    return Question("INSERT", f"Add a new {t.theme.entity} to the table with {facts}.",
                    [f"INSERT INTO {q(t.name)} ({cols}) VALUES ({vals});"],
                    plan="I insert one row, naming every column and quoting every value as text.")


def update(t: Table, rng: random.Random) -> Question | None:
    key, nums, cat = t.columns[0], _numeric(t), _category(t)
    if cat is not None and nums and rng.random() < 0.35:
        col = rng.choice(nums)
        bound = Decimal(rng.choice(t.values(col)))
        new = rng.choice(t.theme.category)
        hit = [r for r in t.rows if Decimal(r[t.column_index(col)]) > bound and r[t.column_index(cat)] != new]
        if not hit:
            return None
        return Question("UPDATE", f"Set the {cat.name} to {new} for every {t.theme.entity} whose {col.name} is "
                        f"greater than {_fmt(bound)}.",
                        [f"UPDATE {q(t.name)} SET {q(cat.name)} = {lit(new)} WHERE {num(col)} > {_fmt(bound)};"],
                        plan=f"I update {cat.name} on the rows whose {col.name}, cast to a number, is above "
                        f"{_fmt(bound)}.")
    row, col = rng.choice(t.rows), rng.choice(t.columns[1:])
    new = value_for(col, rng, t.theme.category)
    if new.lower() == row[t.column_index(col)].lower():
        return None
    return Question("UPDATE", f"Change the {col.name} of the {t.theme.entity} {row[0]} to {new}.",
                    [f"UPDATE {q(t.name)} SET {q(col.name)} = {lit(new)} WHERE {q(key.name)} = {lit(row[0])};"],
                    plan=f"I update only the row whose {key.name} is {row[0]}.")


def delete(t: Table, rng: random.Random) -> Question | None:
    nums = _numeric(t)
    if not nums:
        return None
    col = rng.choice(nums)
    bound = Decimal(rng.choice(t.values(col)))
    if not any(Decimal(v) < bound for v in t.values(col)):
        return None
    return Question("DELETE", f"Delete every {t.theme.entity} whose {col.name} is less than {_fmt(bound)}.",
                    [f"DELETE FROM {q(t.name)} WHERE {num(col)} < {_fmt(bound)};"],
                    plan=f"I delete the rows whose {col.name}, cast to a number, is below {_fmt(bound)}.")


BUILDERS = {
    "other": other, "counting": counting, "comparison": comparison, "ranking": ranking,
    "aggregation-SUM": aggregation("SUM"), "aggregation-MIN": aggregation("MIN"),
    "aggregation-MAX": aggregation("MAX"), "aggregation-AVG": aggregation("AVG"),
    "INSERT": insert, "UPDATE": update, "DELETE": delete,
}
