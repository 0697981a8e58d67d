"""Attacker tooling that learners call from the notebooks.

One module per technique (``cracking``, ``timing``). Attacks use public
libraries and :mod:`labkit.wordlists` only; they never call a defence from
:mod:`labkit.patterns`. Import the submodule you need.
"""
