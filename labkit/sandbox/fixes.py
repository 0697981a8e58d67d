"""A learner's fix is untrusted code: run it guarded, and turn every way it fails into a fault.

A lab app declares the parts a learner may replace as :class:`FixSlot` s. Before a learner's
function is plugged into an app it is wrapped by :func:`guard`: it runs in a worker thread with
a deadline, its exceptions and wrong return types become a :class:`FixFault`, and the app
answers 500 with a ``labkitFault`` field saying what went wrong. Checks read that field over
HTTP, so the feedback can name the problem without the check ever touching learner objects.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

__all__ = ["FixFault", "FixSlot", "FixTimeout", "guard", "install_fault_handler", "plug_fixes"]

DEFAULT_TIMEOUT_S = 10.0


class FixFault(Exception):
    """A learner's function raised, returned the wrong type, or did not return in time."""


class FixTimeout(BaseException):
    """Raised inside a runaway learner thread to stop it (a BaseException, so bare
    ``except Exception`` in learner code cannot swallow it)."""


@dataclass(frozen=True)
class FixSlot:
    """A replaceable part of a lab app: its name, what it must return, and its time budget.

    ``passes`` lists the exceptions that are part of the slot's contract (a token verifier
    *rejects* by raising ``jwt.InvalidTokenError``): those reach the app unchanged, every
    other exception is a fault.
    """

    name: str
    returns: type | tuple[type, ...]
    doc: str
    timeout: float = DEFAULT_TIMEOUT_S
    passes: tuple[type[Exception], ...] = ()


def _type_names(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def _stop_thread(thread: threading.Thread) -> None:
    """Ask the interpreter to raise FixTimeout in ``thread`` (stops pure-Python loops)."""
    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread.ident), ctypes.py_object(FixTimeout)
        )


def guard(slot: FixSlot, fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a learner function so that every failure becomes a :class:`FixFault`."""
    if not callable(fn):
        raise TypeError(f"{slot.name} must be a function, got {type(fn).__name__}")

    def guarded(*args: Any, **kwargs: Any) -> Any:
        outcome: dict[str, Any] = {}

        def call() -> None:
            try:
                outcome["value"] = fn(*args, **kwargs)
            except FixTimeout:
                outcome["timeout"] = True
            except BaseException as exc:  # learner code may raise anything, even SystemExit
                outcome["error"] = exc

        worker = threading.Thread(target=call, name=f"labkit-fix-{slot.name}", daemon=True)
        worker.start()
        worker.join(slot.timeout)
        if worker.is_alive():
            _stop_thread(worker)
            worker.join(1.0)
            raise FixFault(f"{slot.name} did not return within {slot.timeout:g} s (endless loop?)")
        if "error" in outcome:
            exc = outcome["error"]
            if slot.passes and isinstance(exc, slot.passes):
                raise exc
            if isinstance(exc, NotImplementedError):
                raise FixFault(f"{slot.name} is not written yet (it raises NotImplementedError)")
            if isinstance(exc, MemoryError):  # only where Python raises it: see README
                raise FixFault(
                    f"{slot.name} ran out of memory (MemoryError): your fix asked for more "
                    "memory than the kernel could get"
                )
            raise FixFault(f"{slot.name} raised {type(exc).__name__}: {exc}")
        if outcome.get("timeout"):
            raise FixFault(f"{slot.name} did not return within {slot.timeout:g} s")
        value = outcome.get("value")
        if not isinstance(value, slot.returns):
            raise FixFault(
                f"{slot.name} returned {type(value).__name__}, expected {_type_names(slot.returns)}"
            )
        return value

    guarded.__name__ = slot.name
    guarded.__doc__ = slot.doc
    return guarded


def plug_fixes(
    slots: Mapping[str, FixSlot],
    defaults: Mapping[str, Callable[..., Any]],
    fixes: Mapping[str, Any],
) -> dict[str, Callable[..., Any]]:
    """The functions an app should use: each slot's default, or the guarded learner fix."""
    unknown = sorted(set(fixes) - set(slots))
    if unknown:
        raise TypeError(
            f"unknown fix {', '.join(unknown)}; this lab accepts: {', '.join(sorted(slots))}"
        )
    chosen = dict(defaults)
    for name, fn in fixes.items():
        if fn is not None:
            chosen[name] = guard(slots[name], fn)
    return chosen


def install_fault_handler(app: FastAPI) -> None:
    """Answer 500 with a ``labkitFault`` explanation when a learner's function fails.

    Registered twice: for ``FixFault`` (raised in a route) and for any exception (what
    reaches Starlette's outermost error middleware, e.g. raised in an ``@app.middleware``).
    """

    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        body = {"error": "Internal server error"}
        if isinstance(exc, FixFault):
            body["labkitFault"] = str(exc)
        return JSONResponse(body, status_code=500)

    app.add_exception_handler(FixFault, on_error)
    app.add_exception_handler(Exception, on_error)
