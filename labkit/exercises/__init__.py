"""Exercises: checks, feedback widgets, hints, progress and the pytest plugin."""
