"""MySQL's result types and error texts for the SQLite backend, so its observations read like MariaDB's.

mysql-connector returns `Decimal` for DECIMAL expressions (casts, SUM/AVG/ROUND of them, exact-number
arithmetic) with MySQL's scale rules, `int` for COUNT and integer expressions, `float` for double ones and
`str` for TEXT. `result_kinds` works out the MySQL type of each selected expression from the parsed statement;
`to_mysql` converts SQLite's value to it. `mysql_error` rewrites SQLite's error messages into MySQL's
`errno (sqlstate): message` text. Anything it cannot vouch for is marked inexact (`SQLError.exact`, or a
`None` kind for a number), and the generator refuses such transcripts (see docs/dbbench.md).

    kinds = result_kinds(tree)   # e.g. [("decimal", 2), "int", "str"]
    to_mysql(6.0, ("decimal", 2))  # Decimal('6.00')
"""

from __future__ import annotations

import re
import sqlite3
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlglot import exp

from .sandbox import SQLError


class NotReproducible(RuntimeError):
    """An episode's observations may read differently on MariaDB (the backend's `inexact` list says which)."""


Kind = str | tuple[str, int] | None  # "int" | "float" | "str" | ("decimal", scale) | None (unknown)
DIV_PRECISION_INCREMENT = 4  # MySQL's default: `a / b` and AVG add 4 decimal places
_NUMBER_PREFIX = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")


# ------------------------------------------------------------------ functions registered on the connection


def mysql_decimal(value: object, precision: int, scale: int) -> int | float | None:
    """`CAST(value AS DECIMAL(precision, scale))`: MySQL's numeric prefix of a string, rounded half away from
    zero, clamped to the type's range; handed back to SQLite as a float (or an int for scale 0)."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8", "replace")
    match = _NUMBER_PREFIX.match(str(value))
    try:
        number = Decimal(match.group(1)) if match else Decimal(0)
        number = number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        number = Decimal("9" * precision)  # beyond the quantize range: clamped below
    largest = Decimal(int("9" * precision)).scaleb(-scale)
    number = max(-largest, min(largest, number))
    return int(number) if scale == 0 else float(number)


def mysql_round_decimal(value: object, digits: int, scale: int) -> int | float | None:
    """ROUND of a DECIMAL(_, scale) value: exact decimal rounding, half away from zero."""
    if value is None:
        return None
    number = Decimal(repr(value)).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    rounded = number.quantize(Decimal(1).scaleb(-max(digits, 0)), rounding=ROUND_HALF_UP)
    if digits < 0:
        rounded = rounded.scaleb(digits).quantize(Decimal(1), rounding=ROUND_HALF_UP).scaleb(-digits)
    return float(rounded)


def _int_literal(node: exp.Expression | None) -> int | None:
    if isinstance(node, exp.Neg):
        inner = _int_literal(node.this)
        return None if inner is None else -inner
    if isinstance(node, exp.Literal) and not node.is_string and re.fullmatch(r"\d{1,4}", node.this):
        return int(node.this)
    return None


def _decimal_params(to: exp.DataType) -> tuple[int, int]:
    params = [_int_literal(p.this) for p in to.expressions]
    precision = params[0] if params and params[0] is not None else 10
    scale = params[1] if len(params) > 1 and params[1] is not None else 0
    return min(max(precision, 1), 65), min(max(scale, 0), 30, precision)


def rewrite_decimals(tree: exp.Expression) -> exp.Expression:
    """CAST AS DECIMAL and ROUND of decimals become the exact functions above (SQLite has no DECIMAL)."""

    def visit(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.DECIMAL:
            precision, scale = _decimal_params(node.to)
            return exp.func("mysql_decimal", node.this, exp.Literal.number(precision), exp.Literal.number(scale))
        if isinstance(node, exp.Round):
            kind, digits = kind_of(node.this), _int_literal(node.args.get("decimals")) or 0
            if isinstance(kind, tuple):
                return exp.func("mysql_round_decimal", node.this, exp.Literal.number(digits),
                                exp.Literal.number(kind[1]))
        return node

    return tree.transform(visit, copy=True)


# ------------------------------------------------------------------ result types


def _arith(node: exp.Binary) -> Kind:
    left, right = kind_of(node.left), kind_of(node.right)
    if left is None or right is None:
        return None
    if "float" in (left, right) or "str" in (left, right):
        return "float"  # MySQL converts strings to doubles in arithmetic
    scale_l = left[1] if isinstance(left, tuple) else 0
    scale_r = right[1] if isinstance(right, tuple) else 0
    if isinstance(node, exp.Div):
        return ("decimal", min(scale_l + DIV_PRECISION_INCREMENT, 30))
    if left == right == "int":
        return "int"
    if isinstance(node, exp.Mul):
        return ("decimal", min(scale_l + scale_r, 30))
    return ("decimal", max(scale_l, scale_r))


def _cast_kind(node: exp.Cast) -> Kind:
    to = node.to.this
    if to == exp.DataType.Type.DECIMAL:
        return ("decimal", _decimal_params(node.to)[1])
    if to in (exp.DataType.Type.INT, exp.DataType.Type.BIGINT, exp.DataType.Type.UBIGINT, exp.DataType.Type.UINT):
        return "int"
    if to in (exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT):
        return "float"
    if to in (exp.DataType.Type.CHAR, exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT):
        return "str"
    return None


def _round_kind(node: exp.Round) -> Kind:
    kind = kind_of(node.this)
    digits = _int_literal(node.args.get("decimals")) if node.args.get("decimals") is not None else 0
    if digits is None:
        return None
    if isinstance(kind, tuple):
        return ("decimal", min(max(digits, 0), 30))
    return "int" if kind == "int" else None  # ROUND of a double depends on the C library: not vouched for


def _literal_kind(node: exp.Literal) -> Kind:
    if node.is_string:
        return "str"
    text = node.this
    if re.fullmatch(r"\d+", text):
        return "int" if int(text) < 2**63 else None
    if re.fullmatch(r"\d*\.\d*", text):
        return ("decimal", len(text.split(".")[1]))
    return "float"


def kind_of(node: exp.Expression) -> Kind:
    """The MySQL type of one expression over the episode's all-TEXT table (None: not worked out)."""
    if isinstance(node, (exp.Alias, exp.Paren)):
        return kind_of(node.this)
    if isinstance(node, exp.Column):
        return "str"  # every benchmark column is TEXT
    if isinstance(node, exp.Literal):
        return _literal_kind(node)
    if isinstance(node, exp.Null):
        return "str"  # NULL reads as None whatever the type
    if isinstance(node, exp.Count):
        return "int"
    if isinstance(node, exp.Cast):
        return _cast_kind(node)
    if isinstance(node, (exp.Min, exp.Max, exp.Neg, exp.Abs)):
        return kind_of(node.this)
    if isinstance(node, (exp.Sum, exp.Avg)):
        inner = kind_of(node.this)
        if inner in ("float", "str"):
            return "float"
        if inner is None:
            return None
        scale = inner[1] if isinstance(inner, tuple) else 0
        return ("decimal", min(scale + (DIV_PRECISION_INCREMENT if isinstance(node, exp.Avg) else 0), 30))
    if isinstance(node, exp.Round):
        return _round_kind(node)
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div)):
        return _arith(node)
    if isinstance(node, exp.IntDiv):
        return "int"
    if isinstance(node, (exp.Length, exp.Upper, exp.Lower, exp.Concat, exp.Substring, exp.Trim)):
        return "int" if isinstance(node, exp.Length) else "str"
    return None


def result_kinds(tree: exp.Expression | None, width: int) -> list[Kind]:
    """Kinds of a SELECT's `width` columns where they can be worked out (FROM tables only, no subquery source,
    no CTE); None for the others."""
    unknown: list[Kind] = [None] * width
    if not isinstance(tree, exp.Select) or tree.find(exp.CTE):
        return unknown
    sources = [tree.args.get("from_"), *(tree.args.get("joins") or [])]
    if any(s is not None and s.find(exp.Subquery, exp.Values, exp.Unnest) for s in sources):
        return unknown
    if len(tree.expressions) == 1 and isinstance(tree.expressions[0], exp.Star):
        return ["str"] * width  # every benchmark column is TEXT
    kinds = [kind_of(e) for e in tree.expressions]
    return kinds if len(kinds) == width else unknown


def to_mysql(value: Any, kind: Kind) -> tuple[object, bool]:
    """(the value mysql-connector would return, whether that is vouched for)."""
    if value is None:
        return None, True
    if isinstance(value, str):
        return value, kind in ("str", None)
    if isinstance(value, bytes):
        return value, False
    if isinstance(kind, tuple):
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        return number.quantize(Decimal(1).scaleb(-kind[1]), rounding=ROUND_HALF_UP), abs(number) < 10**15
    if kind == "int":
        exact = isinstance(value, int) or (value.is_integer() and abs(value) < 2**53)
        return int(value), exact
    if kind == "float":
        return float(value), True
    return value, False


# ------------------------------------------------------------------ errors

SYNTAX = ("1064 (42000): You have an error in your SQL syntax; check the manual that corresponds to your MariaDB "
          "server version for the right syntax to use near '{}' at line 1")
# Where MariaDB says an unknown column was found, by the clause holding it.
_CLAUSES = ((exp.Where, "WHERE"), (exp.Order, "ORDER BY"), (exp.Group, "GROUP BY"), (exp.Having, "HAVING"),
            (exp.Join, "ON"))


def _clause(column: exp.Column) -> str | None:
    node: exp.Expression | None = column
    while node is not None:
        parent = node.parent
        for cls, name in _CLAUSES:
            if isinstance(node, cls):
                return name
        if isinstance(parent, exp.Select) and node.arg_key == "expressions":
            return "SELECT"
        if isinstance(parent, exp.Update) and node.arg_key == "expressions":
            return "SET"
        node = parent
    return None


def _unknown_column(name: str, tree: exp.Expression | None, columns: list[str]) -> SQLError:
    clause, exact = None, False
    if tree is not None:
        hits = [c for c in tree.find_all(exp.Column) if c.sql(dialect="mysql").replace("`", "") == name]
        unknown = {c.name for c in tree.find_all(exp.Column) if c.name.lower() not in {x.lower() for x in columns}}
        clause = _clause(hits[0]) if hits else None
        exact = clause is not None and len(unknown) == 1 and len({_clause(h) for h in hits}) == 1
    text = f"1054 (42S22): Unknown column '{name}' in '{clause or 'SELECT'}'"
    return SQLError(text, exact=exact)


def mysql_error(err: Exception, tree: exp.Expression | None, sql: str, db: str, columns: list[str]) -> SQLError:
    """SQLite's error for `sql` as MariaDB words it; `db` is the database name v0.2 used (the table name)."""
    message = str(err)
    if message == "interrupted":
        from .sandbox import TIMED_OUT

        return SQLError(TIMED_OUT)
    if m := re.fullmatch(r"no such column: (.+)", message):
        return _unknown_column(m.group(1), tree, columns)
    if m := re.fullmatch(r"table .+ has no column named (.+)", message):
        return SQLError(f"1054 (42S22): Unknown column '{m.group(1)}' in 'INSERT INTO'")
    if m := re.fullmatch(r"no such table: ([^.]+)", message):
        return SQLError(f"1146 (42S02): Table '{db}.{m.group(1)}' doesn't exist")
    if re.fullmatch(r"table .+ has \d+ columns but \d+ values were supplied", message):
        single = tree is not None and len(list(tree.find_all(exp.Tuple))) <= 1
        return SQLError("1136 (21S01): Column count doesn't match value count at row 1", exact=single)
    if m := re.fullmatch(r'near "(.*)": syntax error', message, re.S):
        # MySQL quotes the block from the failing token on (the final `;` ends it); SQLite names only the token.
        block = sql.rstrip().rstrip(";").rstrip()
        at = block.rfind(m.group(1))
        return SQLError(SYNTAX.format(block[at:at + 80] if at >= 0 else ""), exact=False)
    if message == "incomplete input":
        return SQLError(SYNTAX.format(""), exact=False)
    if m := re.fullmatch(r"no such function: (.+)", message):
        return SQLError(f"1305 (42000): FUNCTION {db}.{m.group(1)} does not exist", exact=False)
    if message == "not authorized" or isinstance(err, sqlite3.DatabaseError) and "prohibited" in message:
        return SQLError("1227 (42000): Access denied; this statement is not allowed in this benchmark's sandbox",
                        exact=False)
    return SQLError(f"1105 (HY000): {message or type(err).__name__}", exact=False)
