"""Checks for BrokenShop's tokens part. STUB: filled in by the tokens work."""

from __future__ import annotations

from labkit.exercises.capstone.antipattern import AntiPattern

ANTI_PATTERNS: tuple[AntiPattern, ...] = ()
