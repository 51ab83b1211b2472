"""A cheap guard in front of each triage regex: literals a match cannot do without.

Python's re loses its fast literal search under IGNORECASE, so a 128 KiB alert would cost every pattern a
full slow scan. Each pattern is therefore guarded by literals it cannot match without (taken
conservatively from its top level): a plain substring test on the case-folded text rules most patterns
out at once. `required_literals(pattern)` gives one literal per top-level branch, or None when it cannot
say (then the pattern is always searched); `fold(text)` folds text the way the guard compares it.
"""

from __future__ import annotations

import re
from functools import cache

# Python's re loses its fast literal search under IGNORECASE, so a 128 KiB alert would cost every
# pattern a full slow scan. Each pattern is therefore guarded by literals it cannot match without
# (taken conservatively from its top level); a plain substring test on the folded text rules most
# patterns out at once.
_LITERAL = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-/:;=,<>'\"%&@#!~")
_QUANTIFIERS = frozenset("?*{")
_COUNT = re.compile(r"\{\d*(?:,\d*)?\}")
# re's IGNORECASE equates these with ASCII letters; casefold() alone does not.
_FOLD_EXTRA = str.maketrans({"\u0131": "i"})


def fold(text: str) -> str:
    """Case-fold as the guard compares (re's IGNORECASE also equates the dotless i with i)."""
    return text.casefold().translate(_FOLD_EXTRA)


def _branch_literal(branch: str) -> str:
    """The longest run of plain characters that any match of this top-level branch must contain."""
    runs: list[str] = []
    run: list[str] = []
    depth = 0
    index = 0
    while index < len(branch):
        char = branch[index]
        if depth == 0 and char.lower() in _LITERAL:
            run.append(char.lower())
            index += 1
            continue
        if char in _QUANTIFIERS and run:
            run.pop()  # the quantified character may be absent
        elif char == "+" and run:
            pass  # the character is present; the run still ends here (it may repeat)
        runs.append("".join(run))
        run = []
        if char == "\\":
            index += 2
            continue
        counted = _COUNT.match(branch, index)
        if counted:
            index = counted.end()
            continue
        if char == "[":
            index = _class_end(branch, index)
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        index += 1
    runs.append("".join(run))
    return max(runs, key=len)


def _class_end(pattern: str, start: int) -> int:
    index = start + 1
    if index < len(pattern) and pattern[index] == "^":
        index += 1
    if index < len(pattern) and pattern[index] == "]":
        index += 1
    while index < len(pattern) and pattern[index] != "]":
        index += 2 if pattern[index] == "\\" else 1
    return index


def _top_level_branches(pattern: str) -> list[str]:
    branches, depth, start, index = [], 0, 0, 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if char == "[":
            index = _class_end(pattern, index)
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            branches.append(pattern[start:index])
            start = index + 1
        index += 1
    branches.append(pattern[start:])
    return branches


@cache
def required_literals(pattern: re.Pattern[str]) -> tuple[str, ...] | None:
    """One literal per top-level branch (a match contains at least one), or None: always search."""
    if pattern.flags & re.VERBOSE:
        return None
    literals = tuple(_branch_literal(b) for b in _top_level_branches(pattern.pattern))
    return literals if all(len(literal) >= 2 for literal in literals) else None


def matches(pattern: re.Pattern[str], text: str, folded: str) -> bool:
    """`pattern.search(text)`, skipped when `folded` (fold(text)) lacks every required literal."""
    literals = required_literals(pattern)
    if literals is not None and not any(literal in folded for literal in literals):
        return False
    return pattern.search(text) is not None
