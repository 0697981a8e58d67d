"""Wordlists shipped with installed packages, so no lab ever downloads one.

The common-password list is the 30,000 most frequent passwords that zxcvbn
ships (``zxcvbn.frequency_lists``), in frequency order: the attacker's wordlist
in the cracking labs and the defender's blocklist in the policy labs.
"""

from __future__ import annotations

import functools

__all__ = ["common_passwords", "seed_passwords"]

#: Word stems kept out of the passwords the labs *give* seeded accounts (they show up in
#: learners' notebooks); the attack wordlist itself stays the real, unfiltered one.
_RUDE = ("fuck", "shit", "pussy", "cock", "dick", "bitch", "cunt", "slut", "whore", "porn",
         "sex", "nigg", "fag", "penis", "vagina", "boob", "tits", "horny", "asshole")  # fmt: skip


@functools.cache
def _all_common_passwords() -> tuple[str, ...]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return tuple(FREQUENCY_LISTS["passwords"])


def common_passwords(limit: int | None = None) -> tuple[str, ...]:
    """Return the most common passwords, most frequent first (all 30,000 by default)."""
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")
    words = _all_common_passwords()
    return words if limit is None else words[:limit]


@functools.lru_cache(maxsize=16)  # every shop a check starts seeds from the same lists
def seed_passwords(limit: int) -> tuple[str, ...]:
    """The common passwords among the ``limit`` most frequent that a lab may give a seeded
    account: the same list, minus profanity (the cracking output is shown in class)."""
    return tuple(w for w in common_passwords(limit) if not any(r in w.lower() for r in _RUDE))
