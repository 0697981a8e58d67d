"""Test suite (a package, so `tests.ci_guard` can be loaded as a plugin with `-p`)."""
