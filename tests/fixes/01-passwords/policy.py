"""01 policy: wrong and right password policies (NIST SP 800-63B as the lab states it)."""

from __future__ import annotations

import string
import unicodedata

from labkit.vulnerable.passwords import validate_password as composition_rules
from labkit.wordlists import common_passwords
from tests.fixes.corpus import Fixes, right, sibling, wrong

P = sibling(__file__, "_parts")

BLOCKLIST = frozenset(common_passwords())


def _policy(measure, low: int = 12, high: int = 128, blocked=lambda p: p.lower() in BLOCKLIST):
    def validate_password(password: str) -> list[str]:
        errors = []
        if measure(password) < low:
            errors.append(f"Minimum {low} characters")
        if measure(password) > high:
            errors.append(f"Maximum {high} characters")
        if blocked(password):
            errors.append("This password is too common")
        return errors

    # the whole system, so that verify can run it too
    return P.system(validate_password=validate_password)


@wrong("policy", breaks="min-length", also=("verify",))
def counts_bytes() -> Fixes:
    """Length in UTF-8 bytes: 11 accented characters pass, 128 emoji are refused."""
    return _policy(lambda p: len(p.encode()))


@wrong("policy", breaks="min-length")
def off_by_one_minimum() -> Fixes:
    """'More than 12' instead of 'at least 12': exactly 12 characters is refused."""
    return _policy(len, low=13)


@wrong("policy", breaks="max-length")
def maximum_64() -> Fixes:
    """NIST's 'at least 64 accepted' read as 'at most 64'."""
    return _policy(len, high=64)


@wrong("policy", breaks="max-length")
def no_maximum() -> Fixes:
    """No upper bound at all: a 129-character password is welcome ('longer is stronger')."""
    return _policy(len, high=10**6)


@wrong("policy", breaks="blocklist")
def case_sensitive_blocklist() -> Fixes:
    """The blocklist compared as typed: 'SONNENSCHEIN' is not in it."""
    return _policy(len, blocked=lambda p: p in BLOCKLIST)


@wrong("policy", breaks="blocklist")
def top_thousand_only() -> Fixes:
    """Only the 1,000 most common passwords blocked ('the rest are rare enough')."""
    top = frozenset(common_passwords(1000))
    return _policy(len, blocked=lambda p: p.lower() in top)


@wrong("policy", breaks="blocklist")
def a_few_words() -> Fixes:
    """A hand-written blocklist of the usual suspects."""
    words = {"password", "123456", "qwerty", "letmein", "password123", "iloveyou"}
    return _policy(len, blocked=lambda p: any(w in p.lower() for w in words))


@wrong("policy", breaks="no-composition")
def composition() -> Fixes:
    """The legacy rules: a digit, a capital and a symbol required; no blocklist."""
    return P.system(validate_password=composition_rules)


@wrong("policy", breaks="no-composition")
def ascii_only() -> Fixes:
    """Length and blocklist right, but only printable ASCII allowed."""
    inner = _policy(len)["validate_password"]

    def validate_password(password: str) -> list[str]:
        errors = inner(password)
        if any(c not in string.printable for c in password):
            errors.append("Only letters, digits and symbols")
        return errors

    return P.system(validate_password=validate_password)


@right("policy")
def normalised_class_returning_a_tuple() -> Fixes:
    """A class that NFKC-normalises (NIST allows it), casefolds, and returns a tuple."""

    class Policy:
        blocked = frozenset(w.casefold() for w in common_passwords())

        def __call__(self, password: str) -> tuple[str, ...]:
            text = unicodedata.normalize("NFKC", password)
            size = sum(1 for _ in text)
            problems = []
            if not 12 <= size <= 128:
                problems.append("between 12 and 128 characters, please")
            if text.casefold() in self.blocked:
                problems.append("too common")
            return tuple(problems)

    return P.system(validate_password=Policy())


@right("policy", also=("verify",))
def patterns_style_with_sets() -> Fixes:
    """Length checks as a range test, the blocklist as a set built at import."""
    allowed = range(12, 129)

    def validate_password(password: str) -> list[str]:
        return [
            message
            for failed, message in (
                (len(password) not in allowed, "12 to 128 characters"),
                (password.lower() in BLOCKLIST, "a common password"),
            )
            if failed
        ]

    return P.system(validate_password=validate_password)
