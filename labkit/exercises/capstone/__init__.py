"""The checks of 13-capstone (BrokenShop), one module per part of the shop.

Each part module lists its :class:`~labkit.exercises.capstone.antipattern.AntiPattern` s (the
fix batteries); :mod:`~labkit.exercises.capstone.audit` judges the learner's findings (with
:mod:`~labkit.exercises.capstone.judges` and :mod:`~labkit.exercises.capstone.evidence`);
:mod:`labkit.exercises.labs.capstone` turns them into the audit, fix and verify checks.
"""
