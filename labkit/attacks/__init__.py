"""Attacker tooling that learners call from the notebooks.

One module per technique or lab (``cracking``, ``timing``, ``apikeys``, ...): pure functions
over httpx clients, strings and bytes. Attacks use public libraries and
:mod:`labkit.wordlists` only; they never call a defence from :mod:`labkit.patterns`.
Import the submodule you need.
"""
