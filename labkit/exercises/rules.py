"""Rules are data: what a fix must do, said once, read by the learner and probed by the check.

Each fix check declares its :class:`Rule` s. The notebook's "Your fix must" list is rendered
from them at build time (a markdown cell holding ``<!-- labkit:rules CHECK_ID -->``), the
check tags every problem it finds with the rule it breaks (``findings.expect(..., rule=id)``),
and ``tests/fixes/<lab>/`` holds a wrong fix for every rule. A rule without a probe, or a
probe without a rule, is a bug; the corpus test finds both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["RULES_MARKER", "Rule", "merge_rules", "render_rules"]

#: ``<!-- labkit:rules hashing -->`` (or several ids, space-separated) in a markdown cell.
RULES_MARKER = re.compile(r"<!--\s*labkit:rules\s+([\w\s-]+?)\s*-->")
_RULE_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Rule:
    """One normative sentence of a fix: ``id`` (kebab-case, shown in failures) and ``text``
    (the sentence the learner reads, with every value the check requires)."""

    id: str
    text: str

    def __post_init__(self) -> None:
        if not _RULE_ID.match(self.id):
            raise ValueError(f"rule id {self.id!r} must be kebab-case (a-z, 0-9, -)")
        if not self.text.strip():
            raise ValueError(f"rule {self.id!r} has no text")


def merge_rules(*groups: Iterable[Rule]) -> tuple[Rule, ...]:
    """The rules of several checks, each id once (for a ``verify`` that replays them all)."""
    merged: dict[str, Rule] = {}
    for group in groups:
        for rule in group:
            if merged.setdefault(rule.id, rule) != rule:
                raise ValueError(f"two different rules share the id {rule.id!r}")
    return tuple(merged.values())


def render_rules(rules: Iterable[Rule], heading: str = "**Your fix must:**") -> str:
    """Markdown for the notebook: the heading and one bullet per rule, id in code."""
    lines = [heading, ""] + [f"- `{rule.id}` — {rule.text}" for rule in rules]
    return "\n".join(lines)
