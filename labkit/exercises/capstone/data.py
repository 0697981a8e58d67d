"""Checks for BrokenShop's data part. STUB: filled in by the data work."""

from __future__ import annotations

from labkit.exercises.capstone.antipattern import AntiPattern

ANTI_PATTERNS: tuple[AntiPattern, ...] = ()
