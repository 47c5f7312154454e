"""The SQLite backend prints what MariaDB prints: each expected text below was read from MariaDB 10.11 through
mysql-connector-python; both backends must give it exactly (the mysql case checks the reference itself)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agentbench_tuning.envs.dbbench import MySQLBackend, SQLError, SQLiteBackend
from agentbench_tuning.envs.dbbench.sqlite_mysql import mysql_decimal, mysql_round_decimal, to_mysql

T = "`Towns of Vell (2020)`"
DEC = "CAST(`Bridges` AS DECIMAL(10,2))"
# (statement, MariaDB's text); Bridges holds '12', '7', '30', '9', '3' (sum 61, mean 12.2)
RESULTS = [
    (f"SELECT SUM({DEC}) FROM {T}", "[(Decimal('61.00'),)]"),
    (f"SELECT AVG({DEC}) FROM {T}", "[(Decimal('12.200000'),)]"),  # AVG adds 4 decimal places
    (f"SELECT ROUND(AVG({DEC}), 2) FROM {T}", "[(Decimal('12.20'),)]"),
    (f"SELECT MIN({DEC}), MAX({DEC}) FROM {T}", "[(Decimal('3.00'), Decimal('30.00'))]"),
    (f"SELECT COUNT(*) FROM {T}", "[(5,)]"),
    (f"SELECT SUM(`Bridges`), AVG(`Bridges`), MAX(`Bridges`) FROM {T}", "[(61.0, 12.2, '9')]"),  # text: doubles
    (f"SELECT `Bridges` + 0 FROM {T} LIMIT 2", "[(12.0,), (7.0,)]"),
    ("SELECT 1.5, 2, 1e0, NULL, 'a'", "[(Decimal('1.5'), 2, 1.0, None, 'a')]"),
    (f"SELECT CAST(`Bridges` AS SIGNED) FROM {T} LIMIT 2", "[(12,), (7,)]"),
    (f"SELECT CAST(`Bridges` AS DECIMAL) FROM {T} LIMIT 2", "[(Decimal('12'),), (Decimal('7'),)]"),
    (f"SELECT CAST(`Bridges` AS DECIMAL(5,1)) * 2 FROM {T} LIMIT 1", "[(Decimal('24.0'),)]"),
    (f"SELECT SUM(CAST(`Bridges` AS SIGNED)), AVG(CAST(`Bridges` AS SIGNED)) FROM {T}",
     "[(Decimal('61'), Decimal('12.2000'))]"),
    (f"SELECT {DEC} + 1, {DEC} * CAST(`Bridges` AS DECIMAL(10,1)), {DEC} / 4, -{DEC} FROM {T} LIMIT 1",
     "[(Decimal('13.00'), Decimal('144.000'), Decimal('3.000000'), Decimal('-12.00'))]"),
    ("SELECT 1/3, 7 DIV 2, 2/2, 10 - 3, 1 + 1.0", "[(Decimal('0.3333'), 3, Decimal('1.0000'), 7, Decimal('2.0'))]"),
    ("SELECT ROUND(2.345, 2), ROUND(2.5), ROUND(12, 1), ROUND(1.25, 4)",
     "[(Decimal('2.35'), Decimal('3'), 12, Decimal('1.2500'))]"),
    ("SELECT CAST(' 12.345abc' AS DECIMAL(10,2)), CAST('abc' AS DECIMAL(10,2)), CAST('1e3' AS DECIMAL(10,2)), "
     "CAST('123456789012' AS DECIMAL(10,2)), CAST('-2.5' AS DECIMAL(10,0))",
     "[(Decimal('12.35'), Decimal('0.00'), Decimal('1000.00'), Decimal('99999999.99'), Decimal('-3'))]"),
    (f"SELECT `Town` FROM {T} WHERE {DEC} > 8.5 ORDER BY {DEC} DESC LIMIT 1", "[(\"Cor d'Ine\",)]"),
    (f"SELECT COUNT(DISTINCT `Town`), LENGTH(`Town`) FROM {T}", "[(5, 4)]"),
    (f"UPDATE {T} SET `Bridges` = '8' WHERE `Town` = 'Bexa'", "[]"),
]
ERRORS = [
    (f"SELECT `Bad col` FROM {T} LIMIT 1", "1054 (42S22): Unknown column 'Bad col' in 'SELECT'"),
    (f"SELECT `Town` FROM {T} WHERE `Bad` = 1", "1054 (42S22): Unknown column 'Bad' in 'WHERE'"),
    (f"SELECT `Town` FROM {T} ORDER BY `Bad`", "1054 (42S22): Unknown column 'Bad' in 'ORDER BY'"),
    (f"SELECT `Town` FROM {T} GROUP BY `Bad`", "1054 (42S22): Unknown column 'Bad' in 'GROUP BY'"),
    (f"SELECT a.`Town` FROM {T} a JOIN {T} b ON a.`Bad` = b.`Town`", "1054 (42S22): Unknown column 'a.Bad' in 'ON'"),
    (f"UPDATE {T} SET `Bad` = 1", "1054 (42S22): Unknown column 'Bad' in 'SET'"),
    (f"DELETE FROM {T} WHERE `Bad` = 1", "1054 (42S22): Unknown column 'Bad' in 'WHERE'"),
    (f"INSERT INTO {T} (`Bad`) VALUES ('1')", "1054 (42S22): Unknown column 'Bad' in 'INSERT INTO'"),
    (f"SELECT COUNT(`Bad`) FROM {T}", "1054 (42S22): Unknown column 'Bad' in 'SELECT'"),
    ("SELECT * FROM `nosuch table`", "1146 (42S02): Table 'Towns of Vell (2020).nosuch table' doesn't exist"),
    (f"INSERT INTO {T} VALUES ('1','2')", "1136 (21S01): Column count doesn't match value count at row 1"),
    (f"SELECT COUNT(*) FROM {T}; DELETE FROM {T}", "Commands out of sync; you can't run this command now"),
    (f"DELETE FROM {T}; SELECT `Nope` FROM {T}", "1054 (42S22): Unknown column 'Nope' in 'SELECT'"),
]


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def backend(request, towns):
    made = SQLiteBackend() if request.param == "sqlite" else MySQLBackend(request.getfixturevalue("mysql_url"))
    made.open(towns)
    yield made
    made.close()


@pytest.mark.parametrize(("sql", "text"), RESULTS)
def test_result_text_as_mariadb(backend, sql, text):
    assert backend.run(sql) == text
    assert backend.inexact == []


@pytest.mark.parametrize(("sql", "text"), ERRORS)
def test_error_text_as_mariadb(backend, sql, text):
    with pytest.raises(SQLError) as caught:
        backend.run(sql)
    assert (str(caught.value), caught.value.exact, backend.inexact) == (text, True, [])
    assert backend.run(f"SELECT COUNT(*) FROM {T}") == "[(5,)]"  # failed blocks change nothing


@pytest.mark.parametrize("sql", [
    f"SELECT STR_TO_DATE(`Founded`, '%M %d, %Y') FROM {T}",  # no such function in SQLite
    "SELECT SELECT",  # syntax errors: MySQL's `near '...'` text is approximated
    f"SELECT `Town` FROM {T} HAVING `Bridges` > 1",  # SQLite refuses HAVING without GROUP BY
    f"SELECT LENGTH(`Town`) + 0.5 FROM (SELECT `Town` FROM {T}) x",  # a type not worked out
])
def test_sqlite_marks_what_it_cannot_vouch_for(towns, sql):
    backend = SQLiteBackend()
    backend.open(towns)
    backend.execute(sql)
    assert len(backend.inexact) == 1 and sql[:40] in backend.inexact[0]


@pytest.mark.parametrize(("value", "precision", "scale", "expected"), [
    ("12.345", 10, 2, 12.35), ("-2.5", 10, 0, -3), ("abc", 10, 2, 0.0), (" 7kg", 10, 1, 7.0),
    ("123456789012", 10, 2, 99999999.99), (None, 10, 2, None), ("1e400", 10, 2, 99999999.99),
])
def test_mysql_decimal_cast(value, precision, scale, expected):
    assert mysql_decimal(value, precision, scale) == expected


def test_decimal_rounding_is_exact():
    # 2.675 is 2.67499999... as a double; MySQL rounds the DECIMAL 2.675 half away from zero.
    assert mysql_round_decimal(2.675, 2, 3) == 2.68
    assert mysql_round_decimal(125.0, -1, 0) == 130.0
    assert to_mysql(2.68, ("decimal", 2)) == (Decimal("2.68"), True)
    assert to_mysql(61, ("decimal", 0)) == (Decimal("61"), True)
    assert to_mysql(3.5, "int") == (3, False)
