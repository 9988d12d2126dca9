"""Two sets of clips for the same rows, judged clip by clip (``sounding eval paired``).

Two generators' ACCs near 25 % on 176 clips differ by several points from chance alone (a binomial standard error
of about 3 points each). Clips made for the same rows with the same seeds (``sounding eval generated`` writes
them so) can be compared pair by pair: only the rows one set gets right and the other wrong say anything, and the
exact McNemar test says how likely that split is if neither set is better. With several clips per row (``sounding
eval generated --seeds``: one file name per row, one folder per seed), a row's clips are not independent, so the test
runs over rows: a row counts for the set that gets more of its clips right (a sign test; with one clip per row it is
McNemar's).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from math import comb
from pathlib import Path

from sounding.evaluation.acc import check_targets, judge_clip, read_targets
from sounding.evaluation.judge import Judge


@dataclass
class PairedResult:
    clips: int
    #: Distinct clip names (rows): as many as ``clips`` unless each row has clips from several seeds.
    rows: int
    first_acc: float
    second_acc: float
    #: Rows the first set gets more of right than the second (with one clip a row: right against wrong), and the
    #: other way round.
    only_first: int
    only_second: int
    #: Exact two-sided McNemar (sign test) p-value: the binomial test of only_first against only_second at one half.
    p_value: float

    def to_dict(self) -> dict:
        return asdict(self)


def mcnemar_p(only_first: int, only_second: int) -> float:
    discordant = only_first + only_second
    if discordant == 0:
        return 1.0
    tail = sum(comb(discordant, k) for k in range(min(only_first, only_second) + 1)) / 2 ** discordant
    return min(1.0, 2 * tail)


def compare(first: Path, second: Path, judge_dir: Path) -> PairedResult:
    """``first`` and ``second``: CSVs or folders that ``sounding eval acc`` reads, listing the same clip names with
    the same targets in the same order; clips with the same name and target belong to one row."""
    a, b = read_targets(first), read_targets(second)
    if [(path.name, label) for path, label in a] != [(path.name, label) for path, label in b]:
        raise ValueError(f"{first} and {second} do not list the same clips with the same targets")
    judge = Judge.load(judge_dir)
    check_targets(a, judge)
    right_a = [judge_clip(path, label, judge)[2] for path, label in a]
    right_b = [judge_clip(path, label, judge)[2] for path, label in b]
    per_row = defaultdict(lambda: [0, 0])
    for (path, label), x, y in zip(a, right_a, right_b):
        per_row[path.name, label][0] += x
        per_row[path.name, label][1] += y
    only_first = sum(x > y for x, y in per_row.values())
    only_second = sum(y > x for x, y in per_row.values())
    return PairedResult(clips=len(a), rows=len(per_row), first_acc=round(sum(right_a) / len(a), 4),
                        second_acc=round(sum(right_b) / len(b), 4), only_first=only_first,
                        only_second=only_second, p_value=round(mcnemar_p(only_first, only_second), 4))
