"""DELIBERATELY INSECURE — for attack practice in the workbook only; never copy into real code.
The secure twin lives in labkit.patterns.

Like pyca/cryptography's ``hazmat`` layer, this package holds the dangerous side
of each pattern on purpose: every module here is the insecure twin of a module
in :mod:`labkit.patterns`, and its docstring opens with :data:`BANNER` (wrapped
to fit the line length). Every public function names its flaw, the lab that
exploits it and its secure twin. Learners attack these functions; they never
build on them.
"""

__all__ = ["BANNER"]

BANNER: str = (
    "DELIBERATELY INSECURE — for attack practice in the workbook only; never copy into "
    "real code. The secure twin lives in labkit.patterns."
)
