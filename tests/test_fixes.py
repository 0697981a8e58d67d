"""labkit.sandbox.fixes: a learner's function is untrusted code, and every failure is feedback."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from labkit.sandbox.apps import welcome
from labkit.sandbox.fixes import FixFault, FixSlot, guard, install_fault_handler, plug_fixes
from labkit.sandbox.server import Sandbox

SLOT = FixSlot("validate_name", list, "validate_name(name) -> list[str]", timeout=0.5)


def fix_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"labkit-fix-{name}" and t.is_alive()]


def wait_until_gone(name: str, seconds: float = 3.0) -> list[threading.Thread]:
    deadline = time.monotonic() + seconds
    while fix_threads(name) and time.monotonic() < deadline:
        time.sleep(0.02)
    return fix_threads(name)


def test_a_working_function_passes_through() -> None:
    guarded = guard(SLOT, lambda name: [] if name else ["empty"])
    assert guarded("Ada") == []
    assert guarded("") == ["empty"]
    assert guarded.__name__ == "validate_name"
    assert guarded.__doc__ == SLOT.doc


def test_exception_becomes_a_fault_naming_it() -> None:
    def broken(name: str) -> list[str]:
        raise KeyError("oops")

    with pytest.raises(FixFault, match=r"validate_name raised KeyError: 'oops'"):
        guard(SLOT, broken)("Ada")


def test_exceptions_of_the_slots_contract_pass_through_unchanged() -> None:
    class Rejected(ValueError):
        pass

    slot = FixSlot("verify", dict, "verify(token) -> dict; raise ValueError to reject",
                   passes=(ValueError,))  # fmt: skip

    def verify(token: str) -> dict[str, str]:
        if token == "bad":
            raise Rejected("bad token")
        if token == "bug":
            raise KeyError("sub")
        raise NotImplementedError

    with pytest.raises(Rejected, match="bad token"):
        guard(slot, verify)("bad")
    with pytest.raises(FixFault, match="verify raised KeyError"):
        guard(slot, verify)("bug")
    with pytest.raises(FixFault, match="not written yet"):  # not a ValueError: still a fault
        guard(slot, verify)("stub")


def test_not_implemented_reads_not_written_yet() -> None:
    def stub(name: str) -> list[str]:
        raise NotImplementedError

    with pytest.raises(FixFault, match="validate_name is not written yet"):
        guard(SLOT, stub)("Ada")


@pytest.mark.parametrize(
    ("value", "got"), [(None, "NoneType"), ("fine", "str"), ({"a": 1}, "dict")]
)
def test_wrong_return_type_names_both_types(value: Any, got: str) -> None:
    with pytest.raises(FixFault) as info:
        guard(SLOT, lambda name: value)("Ada")
    assert str(info.value) == f"validate_name returned {got}, expected list"


def test_several_return_types_are_named() -> None:
    slot = FixSlot("f", (int, float), "f() -> number", timeout=0.5)
    assert guard(slot, lambda: 2.5)() == 2.5
    with pytest.raises(FixFault, match="returned str, expected int or float"):
        guard(slot, lambda: "2")()


def test_endless_loop_times_out_and_the_thread_is_stopped() -> None:
    slot = FixSlot("spin", list, "spins", timeout=0.5)

    def spin(name: str) -> list[str]:
        while True:
            pass

    started = time.monotonic()
    with pytest.raises(FixFault, match=r"spin did not return within 0.5 s"):
        guard(slot, spin)("Ada")
    assert time.monotonic() - started < 3
    assert wait_until_gone("spin") == []


def test_except_exception_cannot_swallow_the_stop() -> None:
    slot = FixSlot("stubborn", list, "swallows exceptions", timeout=0.5)
    ticks = [0]

    def stubborn(name: str) -> list[str]:
        while True:
            try:  # noqa: SIM105 - exactly what a learner might write
                ticks[0] += 1
            except Exception:
                pass

    with pytest.raises(FixFault, match="did not return within"):
        guard(slot, stubborn)("Ada")
    assert wait_until_gone("stubborn") == []
    count = ticks[0]
    time.sleep(0.1)
    assert ticks[0] == count  # the loop really stopped


def test_system_exit_in_learner_code_is_a_fault() -> None:
    def quits(name: str) -> list[str]:
        raise SystemExit(3)

    with pytest.raises(FixFault, match="validate_name raised SystemExit: 3"):
        guard(SLOT, quits)("Ada")
    assert threading.main_thread().is_alive()  # and we are still here to say so


def test_keyboard_interrupt_in_learner_code_is_a_fault() -> None:
    def interrupted(name: str) -> list[str]:
        raise KeyboardInterrupt

    with pytest.raises(FixFault, match="raised KeyboardInterrupt"):
        guard(SLOT, interrupted)("Ada")


def test_non_callable_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="validate_name must be a function, got str"):
        guard(SLOT, "lambda name: []")  # type: ignore[arg-type]


def test_plug_fixes_uses_defaults_and_guards_fixes() -> None:
    def default(name: str) -> list[str]:
        return []

    def mine(name: str) -> list[str]:
        return ["mine"]

    chosen = plug_fixes({"validate_name": SLOT}, {"validate_name": default}, {})
    assert chosen["validate_name"] is default
    chosen = plug_fixes(
        {"validate_name": SLOT}, {"validate_name": default}, {"validate_name": None}
    )
    assert chosen["validate_name"] is default
    chosen = plug_fixes(
        {"validate_name": SLOT}, {"validate_name": default}, {"validate_name": mine}
    )
    assert chosen["validate_name"] is not mine
    assert chosen["validate_name"]("x") == ["mine"]


def test_plug_fixes_rejects_unknown_names() -> None:
    slots = {"validate_name": SLOT, "hash_password": FixSlot("hash_password", str, "")}
    with pytest.raises(TypeError) as info:
        plug_fixes(slots, {}, {"validate_nmae": lambda name: []})
    message = str(info.value)
    assert "validate_nmae" in message
    assert "hash_password, validate_name" in message


def test_a_faulting_fix_is_a_500_with_labkit_fault_and_the_app_keeps_serving(
    capfd: pytest.CaptureFixture[str],
) -> None:
    def broken(name: str) -> list[str]:
        return name.upper()  # type: ignore[return-value]

    with Sandbox(welcome.create_app(validate_name=broken)) as box:
        client = box.client
        response = client.post("/api/greet", json={"name": "Ada"})
        assert response.status_code == 500
        assert response.json() == {
            "error": "Internal server error",
            "labkitFault": "validate_name returned str, expected list",
        }
        assert client.get("/api/hello").status_code == 200
        again = client.post("/api/greet", json={"name": "Ada"})
        assert again.status_code == 500
        assert "labkitFault" in again.json()
    assert capfd.readouterr() == ("", "")


def test_a_runaway_fix_in_a_live_app_is_a_500_and_the_server_recovers() -> None:
    slot = FixSlot("loop", dict, "loops", timeout=0.3)
    app = FastAPI()
    install_fault_handler(app)

    def forever() -> dict[str, str]:
        while True:
            pass

    learner = guard(slot, forever)

    @app.get("/run")
    def run() -> dict[str, str]:
        return learner()

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"pong": "yes"}

    with Sandbox(app) as box:
        response = box.client.get("/run")
        assert response.status_code == 500
        assert "loop did not return within 0.3 s" in response.json()["labkitFault"]
        assert box.client.get("/ping").json() == {"pong": "yes"}
    assert wait_until_gone("loop") == []


def test_fault_raised_in_middleware_still_names_the_learner_function() -> None:
    from labkit.sandbox.apps.base import LabState, new_lab_app
    from labkit.sandbox.fixes import FixSlot, guard
    from labkit.sandbox.server import Sandbox

    def broken(path: str) -> str:
        raise ZeroDivisionError("oops")

    redact = guard(FixSlot("redact_url", str, "redact_url(url) -> str"), broken)
    app = new_lab_app("t", secure=False, state=LabState(secure=False))

    @app.middleware("http")
    async def log_requests(request, call_next):  # type: ignore[no-untyped-def]
        redact(str(request.url))
        return await call_next(request)

    with Sandbox(app) as box:
        response = box.client.get("/anything")
        assert response.status_code == 500
        assert response.json() == {
            "error": "Internal server error",
            "labkitFault": "redact_url raised ZeroDivisionError: oops",
        }


def test_validation_errors_use_the_contract_shape() -> None:
    from labkit.sandbox.apps.base import LabState, new_lab_app
    from labkit.sandbox.server import Sandbox

    app = new_lab_app("t", secure=False, state=LabState(secure=False))

    @app.post("/api/x")
    def endpoint(body: EmailBody) -> dict[str, str]:
        return {"email": body.email}

    with Sandbox(app) as box:
        response = box.client.post("/api/x", json={"email": 5})
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "email"]


class EmailBody(BaseModel):
    email: str


def test_http_errors_use_the_seeds_error_shape() -> None:
    from fastapi import HTTPException

    from labkit.sandbox.apps.base import LabState, new_lab_app
    from labkit.sandbox.server import Sandbox

    app = new_lab_app("t", secure=False, state=LabState(secure=False))

    @app.get("/api/secret")
    def secret() -> dict[str, str]:
        raise HTTPException(status_code=403, detail="Insufficient permissions")

    with Sandbox(app) as box:
        refused = box.client.get("/api/secret")
        assert (refused.status_code, refused.json()) == (403, {"error": "Insufficient permissions"})
        missing = box.client.get("/api/nowhere")
        assert (missing.status_code, missing.json()) == (404, {"error": "Not Found"})
