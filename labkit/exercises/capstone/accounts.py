"""Checks for BrokenShop's accounts part. STUB: filled in by the accounts work."""

from __future__ import annotations

from labkit.exercises.capstone.antipattern import AntiPattern

ANTI_PATTERNS: tuple[AntiPattern, ...] = ()
