"""BrokenShop's edge part. STUB: filled in by the edge work."""

from __future__ import annotations

from typing import Any

from labkit.sandbox.apps.shop.core import Shop
from labkit.sandbox.fixes import FixSlot

SLOTS: dict[str, FixSlot] = {}
SECURE: dict[str, Any] = {}
VULNERABLE: dict[str, Any] = {}


def install(shop: Shop) -> None:
    """Add this part's routes to the shop."""
