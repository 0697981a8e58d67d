"""Checks for BrokenShop's edge part. STUB: filled in by the edge work."""

from __future__ import annotations

from labkit.exercises.capstone.antipattern import AntiPattern

ANTI_PATTERNS: tuple[AntiPattern, ...] = ()
