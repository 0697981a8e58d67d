"""The checks of 13-capstone (BrokenShop), one module per part of the shop.

Each module lists its :class:`~labkit.exercises.capstone.antipattern.AntiPattern` s;
:mod:`labkit.exercises.labs.capstone` turns them into the audit, fix and verify checks.
"""
