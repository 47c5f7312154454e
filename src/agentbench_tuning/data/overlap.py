"""Data-rule guard: how much of a benchmark file our training conversations contain.

Course rules forbid training on AgentBench / ALFWorld data. `check_overlap` measures, for every benchmark
item (a DB Bench sample's question + table description, an ALFWorld game's opening observation), two things
against every training message:

- **n-gram overlap**: the share of the item's word n-grams (n=8 by default) found anywhere in the training
  text. N-grams that occur in many benchmark items are the harness's own template ("The name of this table
  is", "You are in the middle of a room") and are left out, so only item-specific text counts;
- **near-duplicate similarity**: the highest Jaccard similarity between the item's word 5-gram shingles and
  one training message's (exact, through an inverted index of shingles: no sampling error).

An item at or above either threshold is flagged; `OverlapReport.passed` is False when any item is flagged.
A copied held-out sample scores 1.0 on both; our own generators' data scores far below (see
tests/data/test_overlap.py). `abtune data check-overlap` wraps this and exits 1 on a flagged item.

    items = benchmark_items("dbbench-data/heldout.jsonl")
    report = check_overlap(training_texts(conversations), items)
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class OverlapSettings:
    ngram: int = 8  # words per n-gram for the overlap share
    shingle: int = 5  # words per shingle for the near-duplicate Jaccard
    max_ngram_overlap: float = 0.8  # an item whose share of n-grams found in training reaches this is flagged
    max_similarity: float = 0.6  # an item whose Jaccard with one training message reaches this is flagged
    template_df: float = 0.3  # n-grams in more than this share of benchmark items are template text
    min_items_for_template: int = 10  # fewer items: no template filter (it would need a population)

    def validate(self) -> OverlapSettings:
        if self.ngram < 2 or self.shingle < 2:
            raise ValueError(f"ngram={self.ngram} and shingle={self.shingle} must be >= 2 words")
        for name in ("max_ngram_overlap", "max_similarity", "template_df"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name}={getattr(self, name)} must be in (0, 1]")
        return self


@dataclass(frozen=True)
class BenchmarkItem:
    key: str  # where it comes from: "file.jsonl:line" or the game folder
    kind: str  # its type (DB Bench type, ALFWorld task folder prefix)
    text: str


@dataclass(frozen=True)
class ItemOverlap:
    key: str
    kind: str
    ngram_overlap: float
    similarity: float
    closest: str  # the start of the most similar training message
    flagged: bool


@dataclass
class OverlapReport:
    settings: OverlapSettings
    items: list[ItemOverlap]
    training_messages: int
    template_ngrams: int
    flagged: list[ItemOverlap] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.flagged

    def summary(self) -> dict:
        worst = max(self.items, key=lambda i: (i.similarity, i.ngram_overlap), default=None)
        return {"passed": self.passed, "items": len(self.items), "flagged": len(self.flagged),
                "training_messages": self.training_messages, "template_ngrams_ignored": self.template_ngrams,
                "max_ngram_overlap": max((i.ngram_overlap for i in self.items), default=0.0),
                "max_similarity": max((i.similarity for i in self.items), default=0.0),
                "worst_item": worst and worst.key, "settings": self.settings.__dict__}


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    """Word n-grams; a text shorter than n words is one n-gram of all its words (so it still counts)."""
    if len(tokens) < n:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


# ------------------------------------------------------------------ inputs


def training_texts(conversations: Iterable[dict]) -> list[str]:
    """Every message of every conversation (user, assistant, system alike: copying is copying)."""
    texts = []
    for i, conv in enumerate(conversations):
        messages = conv.get("messages")
        if not isinstance(messages, list):
            raise ValueError(f"training conversation {i}: no 'messages' list (keys: {sorted(conv)})")
        texts += [m["content"] for m in messages if isinstance(m.get("content"), str) and m["content"].strip()]
    return texts


def benchmark_items(path: str | Path, data_root: str | Path | None = None) -> list[BenchmarkItem]:
    """Items of a benchmark file the user supplies: a DB Bench JSONL, a folder of ALFWorld games
    (every game.tw-pddl below it), or an AgentBench ALFWorld split JSON (paths relative to `data_root`,
    v0.2's ALFWORLD_DATA; default: the split file's folder)."""
    path = Path(path)
    if path.is_dir():
        return _alfworld_items(sorted(path.rglob("game.tw-pddl")), path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file or folder; pass a DB Bench JSONL, an ALFWorld game folder "
                                "or a split JSON")
    if path.suffix == ".json":
        return _alfworld_items(_split_paths(path, Path(data_root) if data_root else path.parent), path)
    return _dbbench_items(path)


def _dbbench_items(path: Path) -> list[BenchmarkItem]:
    items = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            sample = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{line_no}: not valid JSON ({err.msg})") from None
        if "description" not in sample:
            raise ValueError(f"{path}:{line_no}: no field 'description'; is this a DB Bench (v0.2) sample file?")
        kind = sample.get("type") or ["?"]
        text = f"{sample['description']}\n{sample.get('add_description', '')}"
        items.append(BenchmarkItem(f"{path}:{line_no}", kind[0] if isinstance(kind, list) else str(kind), text))
    if not items:
        raise ValueError(f"{path}: no samples; pass a DB Bench JSONL with one sample per line")
    return items


def _split_paths(split: Path, root: Path) -> list[Path]:
    try:
        content = json.loads(split.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{split}:{err.lineno}: not valid JSON ({err.msg})") from None
    if not isinstance(content, dict) or not all(isinstance(v, list) for v in content.values()):
        raise ValueError(f'{split}: expected an ALFWorld split {{"task type": ["path/to/game.tw-pddl", ...]}}')
    return [root / rel for rels in content.values() for rel in rels]


def _alfworld_items(games: list[Path], where: Path) -> list[BenchmarkItem]:
    """The opening observation of every game (room + goal), as the engine renders it."""
    from agentbench_tuning.envs.alfworld.protocol import initial_observation
    from agentbench_tuning.envs.alfworld.textworld_game import TextWorldGame

    if not games:
        raise FileNotFoundError(f"{where}: no game.tw-pddl files (build them with the ALFWorld engine first)")
    items = []
    for game_file in games:
        if not game_file.is_file():
            raise FileNotFoundError(f"{where}: game {game_file} not found")
        game = TextWorldGame(str(game_file))
        try:
            text = initial_observation(game.reset().feedback)
        finally:
            game.close()
        items.append(BenchmarkItem(str(game_file.parent), game_file.parent.parent.name.split("-")[0], text))
    return items


# ------------------------------------------------------------------ the check


def template_ngrams(items: Sequence[BenchmarkItem], settings: OverlapSettings) -> set[tuple[str, ...]]:
    """N-grams shared by more than `template_df` of the items: the benchmark's own phrasing."""
    if len(items) < settings.min_items_for_template:
        return set()
    df = Counter(g for item in items for g in ngrams(words(item.text), settings.ngram))
    return {g for g, count in df.items() if count / len(items) > settings.template_df}


def check_overlap(train: Sequence[str], items: Sequence[BenchmarkItem],
                  settings: OverlapSettings = OverlapSettings()) -> OverlapReport:
    settings.validate()
    template = template_ngrams(items, settings)
    train_ngrams: set[tuple[str, ...]] = set()
    shingles = [ngrams(words(t), settings.shingle) for t in train]
    index: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, (text, sh) in enumerate(zip(train, shingles, strict=True)):
        train_ngrams |= ngrams(words(text), settings.ngram)
        for s in sh:
            index[s].append(i)
    results = []
    for item in items:
        tokens = words(item.text)
        own = ngrams(tokens, settings.ngram) - template
        share = len(own & train_ngrams) / len(own) if own else 0.0
        similarity, closest = _nearest(ngrams(tokens, settings.shingle), shingles, index)
        flagged = share >= settings.max_ngram_overlap or similarity >= settings.max_similarity
        results.append(ItemOverlap(item.key, item.kind, round(share, 4), round(similarity, 4),
                                   train[closest][:120] if closest is not None else "", flagged))
    return OverlapReport(settings, results, len(train), len(template), [r for r in results if r.flagged])


def _nearest(item: set, shingles: list[set], index: dict) -> tuple[float, int | None]:
    """Highest Jaccard(item, training message) over the messages sharing at least one shingle."""
    shared = Counter(i for s in item for i in index.get(s, ()))
    best, best_i = 0.0, None
    for i, common in shared.items():
        jaccard = common / (len(item) + len(shingles[i]) - common)
        if jaccard > best:
            best, best_i = jaccard, i
    return best, best_i
