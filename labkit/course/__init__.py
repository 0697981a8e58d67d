"""Course sources (``course/NN-name.py``) to notebooks: learner release and solved build."""

from labkit.course.build import BuildError, build_course, build_notebook, stale_notebooks

__all__ = ["BuildError", "build_course", "build_notebook", "stale_notebooks"]
