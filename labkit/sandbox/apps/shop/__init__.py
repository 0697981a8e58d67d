"""13-capstone: BrokenShop — every row of the seed's "Common Anti-Patterns Summary" at once.

``create_app(secure=False, **fixes)`` builds the shop: ``secure=True`` is the reference
(every part from :mod:`labkit.patterns`), keyword fixes plug the learner's functions into
the broken shop. The parts live in this package's modules, one concern each (see
:mod:`labkit.sandbox.apps.shop.core`); :data:`SLOTS` lists every replaceable part.
"""

from __future__ import annotations

from typing import Any

from labkit.sandbox.apps.base import LabState, new_lab_app
from labkit.sandbox.apps.shop import accounts, data, edge, exposure, tokens
from labkit.sandbox.apps.shop.core import LAB_ID, LabKeyGate, Shop, add_core_routes
from labkit.sandbox.apps.shop.runner import install_runner
from labkit.sandbox.fixes import FixSlot, plug_fixes
from labkit.sandbox.store import LabStore
from labkit.sandbox.tls import LocalTLS

__all__ = ["MODULES", "SLOTS", "create_app"]

#: The shop's parts, in install order (tokens first: the others authenticate with it).
MODULES = (tokens, accounts, edge, data, exposure)

SLOTS: dict[str, FixSlot] = {name: slot for m in MODULES for name, slot in m.SLOTS.items()}


def create_app(
    secure: bool = False,
    *,
    findings: Any = None,
    lab_key: str | None = None,
    **fixes: Any,
) -> Any:
    """BrokenShop; ``secure=True`` is the reference, keyword fixes plug in yours.

    ``findings`` (the audit's list of findings, each with its ``exploit(client)``) adds the
    lab-only route that runs them (:mod:`labkit.sandbox.apps.shop.runner`): the audit and
    verify checks ask it to replay each exploit against a shop they name. ``lab_key``
    closes the lab-only routes an attacker would not hold to anyone without the key.
    """
    defaults: dict[str, Any] = {}
    for module in MODULES:
        defaults.update(module.SECURE if secure else module.VULNERABLE)
    parts = plug_fixes(SLOTS, defaults, fixes)
    store = LabStore(LAB_ID)
    tls = LocalTLS.create(prefix="labkit-13-tls-")
    state = LabState(secure=secure, store=store)
    state.tls["main"] = (tls.certfile, tls.keyfile)
    state.ca_file = tls.ca
    state.extras.update({"http": "(starting)", "ca": tls.ca, "trusted proxy": "127.0.0.2"})
    state.on_started.append(lambda urls: state.extras.update(http=urls.get("http", "")))
    state.on_close.append(tls.remove)
    app = new_lab_app("BrokenShop", secure=secure, state=state)
    state.companions["http"] = app  # the same shop on a plain-HTTP listener
    fixed = frozenset(name for name, fn in fixes.items() if fn is not None)
    shop = Shop(secure, app, state, store, tls, parts, fixed, lab_key=lab_key)
    add_core_routes(shop)
    for module in MODULES:
        module.install(shop)
    if findings is not None:
        install_runner(app, findings)
    if lab_key:
        app.add_middleware(LabKeyGate, key=lab_key)
    return app
