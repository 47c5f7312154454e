"""Random tables for the DB Bench generator: our own themes, names with spaces and punctuation, numbers and
dates stored as text, no NULLs (like the benchmark's tables). Every value comes from `random.Random(seed)`.

    from agentbench_tuning.envs.dbbench.tables import random_table
    table = random_table(random.Random(0))
"""

from __future__ import annotations

import random
from dataclasses import dataclass

_SYLLABLES = ("ka", "lo", "ver", "mi", "dan", "tor", "sel", "ra", "bel", "quin", "ost", "mar", "fen", "ju", "pa",
              "riv", "al", "zen", "cor", "ith", "no", "bra", "sto", "lum", "ey", "gar", "wen", "ti", "hol", "as")
_FIRST = ("Ada", "Bruno", "Chidi", "Dana", "Elif", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kemal", "Lena",
          "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Sven", "Tamar", "Ugo", "Vera", "Wim", "Yara")
_LAST = ("Abara", "Brandt", "Castell", "Dorsey", "Eklund", "Fonseca", "Gallo", "Hartley", "Ivers", "Jansen",
         "Kowal", "Lindqvist", "Moreau", "Nakata", "O'Hara", "Pereira", "Quist", "Rahman", "Sato", "Tiwari")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_COLORS = ("Red", "Blue", "Green", "Amber", "Violet", "Silver", "Black", "White")
_REGIONS = ("North", "South", "East", "West", "Central", "Coastal", "Highland")
_STATUS = ("Active", "Retired", "On loan", "Pending", "Closed")


def _word(rng: random.Random, parts: int = 2) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(parts)).capitalize()


def _date(rng: random.Random) -> str:
    return f"{rng.choice(_MONTHS)} {rng.randint(1, 28)}, {rng.randint(1950, 2023)}"


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: str  # key | person | place | category | int | decimal | date | year

    @property
    def numeric(self) -> bool:
        return self.kind in ("int", "decimal", "year")


def value_for(spec: ColumnSpec, rng: random.Random, category: tuple[str, ...]) -> str:
    if spec.kind == "key":
        return _word(rng, rng.choice((2, 3)))
    if spec.kind == "person":
        return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    if spec.kind == "place":
        return _word(rng, 2) + rng.choice(("", " City", "ville", " Bay", "-on-Sea"))
    if spec.kind == "category":
        return rng.choice(category)
    if spec.kind == "int":
        return str(rng.randint(0, 250))
    if spec.kind == "decimal":
        return f"{rng.uniform(0, 100):.1f}"
    if spec.kind == "year":
        return str(rng.randint(1960, 2023))
    if spec.kind == "date":
        return _date(rng)
    raise ValueError(f"unknown column kind {spec.kind!r}")


@dataclass(frozen=True)
class Theme:
    name: str  # table name pattern; {x} becomes a random word
    key: ColumnSpec
    others: tuple[ColumnSpec, ...]
    category: tuple[str, ...]
    entity: str  # what one row is, for question wording


THEMES = (
    Theme("{x} Football League: season results", ColumnSpec("Team", "key"),
          (ColumnSpec("Home ground", "place"), ColumnSpec("Manager", "person"), ColumnSpec("Wins", "int"),
           ColumnSpec("Goals (for)", "int"), ColumnSpec("Kit colour", "category"), ColumnSpec("Founded", "year")),
          _COLORS, "team"),
    Theme("List of {x} railway stations", ColumnSpec("Station", "key"),
          (ColumnSpec("Region", "category"), ColumnSpec("Opened", "date"), ColumnSpec("Platforms", "int"),
           ColumnSpec("Passengers (thousands)", "decimal"), ColumnSpec("Station master", "person")),
          _REGIONS, "station"),
    Theme("{x} Chess Open - final standings", ColumnSpec("Player", "key"),
          (ColumnSpec("Federation", "category"), ColumnSpec("Rating", "int"), ColumnSpec("Score", "decimal"),
           ColumnSpec("Born", "date"), ColumnSpec("Coach", "person")),
          ("AUT", "BRA", "CAN", "DEN", "EGY", "FIN", "GHA", "IND"), "player"),
    Theme("{x} Records discography", ColumnSpec("Album title", "key"),
          (ColumnSpec("Artist", "person"), ColumnSpec("Release date", "date"), ColumnSpec("Tracks", "int"),
           ColumnSpec("Sales (millions)", "decimal"), ColumnSpec("Label status", "category")),
          _STATUS, "album"),
    Theme("Peaks of the {x} range", ColumnSpec("Peak", "key"),
          (ColumnSpec("Elevation (m)", "int"), ColumnSpec("First ascent", "year"), ColumnSpec("Region", "category"),
           ColumnSpec("Prominence (m)", "int"), ColumnSpec("Nearest town", "place")),
          _REGIONS, "peak"),
    Theme("{x} Marathon #2021 - top finishers", ColumnSpec("Runner", "key"),
          (ColumnSpec("Nationality", "category"), ColumnSpec("Age", "int"), ColumnSpec("Time (min)", "decimal"),
           ColumnSpec("Club", "place"), ColumnSpec("No.", "int")),
          ("Kenya", "Ethiopia", "Japan", "Norway", "Peru", "Spain"), "runner"),
)


@dataclass
class Table:
    name: str
    theme: Theme
    columns: list[ColumnSpec]
    rows: list[list[str]]

    def column_index(self, spec: ColumnSpec) -> int:
        return self.columns.index(spec)

    def values(self, spec: ColumnSpec) -> list[str]:
        i = self.column_index(spec)
        return [r[i] for r in self.rows]


def random_table(rng: random.Random, min_rows: int = 7, max_rows: int = 30) -> Table:
    """A table of one theme with a unique key column (distinct case-insensitively, as MySQL compares)."""
    theme = rng.choice(THEMES)
    others = list(theme.others)
    rng.shuffle(others)
    columns = [theme.key] + others[: rng.randint(3, len(others))]
    n_rows = rng.randint(min_rows, max_rows)
    keys: dict[str, str] = {}
    while len(keys) < n_rows:
        key = value_for(theme.key, rng, theme.category)
        keys.setdefault(key.lower(), key)
    rows = [[k] + [value_for(c, rng, theme.category) for c in columns[1:]] for k in keys.values()]
    return Table(theme.name.format(x=_word(rng, 2)), theme, columns, rows)
