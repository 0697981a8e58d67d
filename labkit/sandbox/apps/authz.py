"""06-authorization: a newsroom CMS whose roles, owners and fields are not enforced.

Routes (CURRICULUM): ``GET /api/posts``, ``GET/PUT/DELETE /api/posts/{id}``, ``GET /api/users``,
``DELETE /api/users/{id}``, each needing a permission of the catalogue's ``PERMISSIONS`` map;
a write or delete of a post also needs ownership (admin overrides). Posts are
``{"id", "title", "body", "authorId"}``, users ``{"id", "email", "role"}``. Errors: 403
``{"error": "Insufficient permissions"}`` / ``{"error": "Not authorized to edit this post"}``,
404 ``{"error": "Not found"}``, 422 ``{"errors": [...]}``. Users log in with
``POST /api/auth/login {email,password}`` → ``{"accessToken"}`` (lab 02's token pattern).

Lab-only routes (setup and ground truth for the lab and its checks): ``POST /api/_lab/accounts
{"role"}`` (a fresh account and its password; any role name, so a check can try unknown ones),
``POST /api/_lab/posts {"title","body","authorId"}``, ``GET /api/_lab/posts/{id}`` and
``GET /api/_lab/users/{id}`` (rows as stored), ``POST /api/_lab/users/{id}/role {"role"}`` (an
admin changes a role), ``DELETE /api/_lab/users/{id}`` (an admin removes an account),
``GET /api/_lab/requires/{n}`` (guarded by ``authorize`` with the n-th pair of
:data:`PERMISSION_PAIRS`: how the guard treats several permissions) and ``GET /api/_lab/dump``.
Ids of records created after the seed start at a random six-digit number.

Replaceable parts: ``authorize(*permissions)`` (returns a FastAPI dependency that yields the
caller as a :class:`User`), ``check_owner(user, post)`` and the ``PostUpdate`` model (a
pydantic class, used as the PUT body). Learner dependencies may depend on this module's
:func:`token_claims` and :func:`database`.
"""

import functools
import inspect
import json
import secrets
import typing
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal

from argon2 import PasswordHasher
from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from labkit.patterns import authz as secure_authz
from labkit.patterns import passwords as secure_passwords
from labkit.patterns.tokens import TokenError
from labkit.sandbox.apps.base import LabState, new_lab_app
from labkit.sandbox.bearer import BearerAuth
from labkit.sandbox.fixes import FixFault, FixSlot, guard
from labkit.sandbox.store import LabStore
from labkit.vulnerable import authz as weak_authz

__all__ = [
    "PERMISSIONS",
    "PERMISSION_PAIRS",
    "SEEDED_POSTS",
    "SLOTS",
    "Database",
    "Post",
    "User",
    "create_app",
    "database",
    "token_claims",
]

PERMISSIONS = secure_authz.PERMISSIONS
ROLES = tuple(PERMISSIONS)
#: (author's email, title, body) of the posts every sandbox starts with.
SEEDED_POSTS = (
    ("alice@example.com", "Welcome to the newsroom", "House rules: be kind, cite sources."),
    ("bob@example.com", "Spring schedule (draft)", "Interviews on Monday, layout on Thursday."),
    ("alice@example.com", "Editorial guidelines", "Every correction is dated and signed."),
    ("bob@example.com", "Interview notes", "Ask about the budget, twice."),
)
POST_COLUMNS = {"title": "title", "body": "body", "authorId": "author_id"}
#: Routes guarded by two permissions at once (lab-only): a role passes only with BOTH.
PERMISSION_PAIRS = (
    ("posts:read", "users:delete"),
    ("posts:write", "posts:delete"),
    ("users:read", "posts:write"),
)
#: Accounts made by the lab-only route are test fixtures: a cheap argon2id keeps checks fast
#: (the login verifies any argon2 parameters; authentication is lab 01's lesson, not this one).
FIXTURE_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

SLOTS = {
    "authorize": FixSlot(
        "authorize",
        object,
        "authorize(*permissions) -> a FastAPI dependency that returns the caller (a User)",
    ),
    "check_owner": FixSlot(
        "check_owner",
        object,
        "check_owner(user: User, post: Post | None) -> Post; raise HTTPException(404 / 403)",
    ),
}
MODEL_FIX = "PostUpdate"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS posts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title,
    body,
    author_id
);
"""


@dataclass(frozen=True)
class User:
    """A user as the database holds them now."""

    id: int
    email: str
    role: str


@dataclass(frozen=True)
class Post:
    """A post; ``authorId`` is the id of the user who wrote it."""

    id: int
    title: Any
    body: Any
    authorId: Any  # the API's field name


class Database:
    """The lab's tables, as a learner's dependency sees them: ``user(id)``, ``post(id)``."""

    def __init__(self, store: LabStore) -> None:
        self.store = store
        store.execute_script(_SCHEMA)

    def user(self, user_id: int) -> User | None:
        """The user with this id, or None."""
        with self.store.connect() as db:
            row = db.execute(
                "SELECT id, email, role FROM users WHERE id = ?", (int(user_id),)
            ).fetchone()
        return User(row["id"], row["email"], row["role"]) if row else None

    def post(self, post_id: int) -> Post | None:
        """The post with this id, or None."""
        with self.store.connect() as db:
            row = db.execute("SELECT * FROM posts WHERE id = ?", (int(post_id),)).fetchone()
        return Post(row["id"], row["title"], row["body"], row["author_id"]) if row else None

    # -- the app's own queries -----------------------------------------------------------
    def users(self) -> list[User]:
        with self.store.connect() as db:
            rows = db.execute("SELECT id, email, role FROM users ORDER BY id").fetchall()
        return [User(r["id"], r["email"], r["role"]) for r in rows]

    def posts(self) -> list[Post]:
        with self.store.connect() as db:
            rows = db.execute("SELECT * FROM posts ORDER BY id").fetchall()
        return [Post(r["id"], r["title"], r["body"], r["author_id"]) for r in rows]

    def add_post(self, title: str, body: str, author_id: int) -> Post:
        with self.store.connect() as db:
            cursor = db.execute(
                "INSERT INTO posts (title, body, author_id) VALUES (?, ?, ?)",
                (title, body, author_id),
            )
        return Post(int(cursor.lastrowid or 0), title, body, author_id)

    def update_post(self, post_id: int, changes: dict[str, Any]) -> None:
        # column names come from POST_COLUMNS only; values are bound parameters
        columns = [(POST_COLUMNS[k], _storable(v)) for k, v in changes.items() if k in POST_COLUMNS]
        if not columns:
            return
        assignments = ", ".join(f"{column} = ?" for column, _ in columns)
        with self.store.connect() as db:
            db.execute(
                f"UPDATE posts SET {assignments} WHERE id = ?",  # noqa: S608
                [value for _, value in columns] + [post_id],
            )

    def delete_post(self, post_id: int) -> None:
        with self.store.connect() as db:
            db.execute("DELETE FROM posts WHERE id = ?", (post_id,))

    def delete_user(self, user_id: int) -> None:
        with self.store.connect() as db:
            db.execute("DELETE FROM users WHERE id = ?", (user_id,))

    def set_role(self, user_id: int, role: str) -> None:
        with self.store.connect() as db:
            db.execute("UPDATE users SET role = ? WHERE id = ?", (role, user_id))


def _storable(value: Any) -> Any:
    """What SQLite can hold of a JSON value (the vulnerable app writes whatever it is sent)."""
    return value if isinstance(value, (str, int, float, type(None))) else json.dumps(value)


@dataclass
class _Context:
    auth: BearerAuth
    db: Database


def _context(request: Request) -> _Context:
    return request.app.state.authz  # type: ignore[no-any-return]


def token_claims(request: Request) -> dict[str, Any]:
    """Dependency: the verified claims of the caller's access token (``sub``, ``role``...).

    Authentication is lab 02's job and done for you: a missing, forged or expired token
    never gets here (401). ``sub`` is the user id as a string.
    """
    return _context(request).auth.current_user(request)


def database(request: Request) -> Database:
    """Dependency: the app's :class:`Database` (``db.user(id)``, ``db.post(id)``)."""
    return _context(request).db


# -- the two ways of knowing the caller --------------------------------------------------
Claims = Annotated[dict[str, Any], Depends(token_claims)]


def _user_from_database(claims: Claims, db: Annotated[Database, Depends(database)]) -> Any:
    return secure_authz.load_current_user(claims, db.user)


def _user_from_token(claims: Claims) -> Any:
    return weak_authz.token_user(claims)


_OURS = {token_claims, database, _user_from_database, _user_from_token}


# -- learner parts, guarded --------------------------------------------------------------
def _guarded(
    name: str, fn: Callable[..., Any], returns: type | tuple[type, ...] = object
) -> Callable[..., Any]:
    """``fn`` run like any learner fix (timeout, faults), its HTTPExceptions (and lab 02's
    TokenError) passed through.

    The wrapper keeps ``fn``'s signature (``functools.wraps``), so FastAPI resolves the
    learner's own ``Depends(...)`` parameters.
    """
    if inspect.iscoroutinefunction(fn):
        return fn  # FastAPI awaits it itself

    # an HTTPException is the learner's answer; a TokenError is authentication's (a learner
    # dependency may call token_claims(request) itself)
    guarded = guard(FixSlot(name, returns, name, passes=(HTTPException, TokenError)), fn)

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        return guarded(*args, **kwargs)

    return call


def _sub_dependencies(fn: Callable[..., Any]) -> list[Callable[..., Any]]:
    """The callables ``fn`` declares with ``Depends(...)`` (as a default or in ``Annotated``)."""
    try:
        signature = inspect.signature(fn, eval_str=True)
    except Exception:  # unresolvable annotations: FastAPI will say so when it builds the route
        return []
    found = []
    for parameter in signature.parameters.values():
        markers = [parameter.default, *typing.get_args(parameter.annotation)[1:]]
        for marker in markers:
            dependency = getattr(marker, "dependency", None)
            if callable(dependency) and dependency not in _OURS:
                found.append(dependency)
    return found


def _guard_learner_dependencies(app: FastAPI, fn: Callable[..., Any]) -> None:
    """Run every learner dependency below ``fn`` guarded too (via ``dependency_overrides``)."""
    for dependency in _sub_dependencies(fn):
        if dependency not in app.dependency_overrides:
            name = getattr(dependency, "__name__", "a dependency")
            app.dependency_overrides[dependency] = _guarded(name, dependency)
            _guard_learner_dependencies(app, dependency)


def _learner_authorize(app: FastAPI, authorize: Any) -> Callable[[str], Any]:
    build = guard(SLOTS["authorize"], authorize)

    def dependency_for(*permissions: str) -> Any:
        named = ", ".join(map(repr, permissions))
        made = build(*permissions)  # at startup: a stub's NotImplementedError surfaces here
        if not callable(made):
            raise FixFault(
                f"authorize({named}) returned {type(made).__name__}; it must return "
                "a dependency (a function)"
            )
        _guard_learner_dependencies(app, made)
        return _guarded(f"the dependency of authorize({named})", made, User)

    return dependency_for


def _update_model(model: Any) -> type[BaseModel]:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(
            f"{MODEL_FIX} must be a pydantic model class (class {MODEL_FIX}(BaseModel): ...), "
            f"got {type(model).__name__}"
        )
    return model


# -- the app ------------------------------------------------------------------------------
class NewAccount(BaseModel):
    role: str = Field(default="viewer", min_length=1, max_length=40)
    email: str | None = Field(default=None, max_length=120)


class NewPost(BaseModel):
    title: str = Field(default="A post", max_length=200)
    body: str = Field(default="Text.", max_length=10_000)
    authorId: int


class RoleChange(BaseModel):
    role: Literal["admin", "editor", "viewer"]


def _seed(store: LabStore, db: Database) -> Any:
    users = store.seed_staff(secure_passwords.hash_password)
    ids = {u.email: u.id for u in store.all_users()}
    for author, title, body in SEEDED_POSTS:
        db.add_post(title, body, ids[author])
    with store.connect() as conn:  # later ids are large: `is` is not `==` past 256
        for table in ("users", "posts"):
            conn.execute(
                "UPDATE sqlite_sequence SET seq = ? WHERE name = ?",
                (100_000 + secrets.randbelow(800_000), table),
            )
    return users


def create_app(secure: bool = False, **fixes: Any) -> FastAPI:
    """The 06-authorization CMS; ``secure=True`` is the reference, keyword fixes plug in yours."""
    model_fix = fixes.pop(MODEL_FIX, None)
    unknown = sorted(set(fixes) - set(SLOTS))
    if unknown:
        accepted = ", ".join([*sorted(SLOTS), MODEL_FIX])
        raise TypeError(f"unknown fix {', '.join(unknown)}; this lab accepts: {accepted}")
    store = LabStore("06-authorization")
    db = Database(store)
    users = _seed(store, db)
    auth = BearerAuth.for_store(store)
    state = LabState(secure=secure, users=users, store=store)
    state.extras["demote"] = "POST /api/_lab/users/{id}/role {'role': 'viewer'}"
    app = new_lab_app("06-authorization", secure=secure, state=state)
    app.state.authz = _Context(auth, db)
    auth.install(app)
    auth.add_login(
        app,
        store,
        secure_passwords.verify_password,
        dummy_hash=secure_passwords.hash_password(secrets.token_urlsafe(16)),
    )

    # which dependency guards each route
    if fixes.get("authorize") is not None:
        learner = _learner_authorize(app, fixes["authorize"])
        read_guard = write_guard = learner
    elif secure:

        def read_guard(*permissions: str) -> Any:
            return secure_authz.authorize(*permissions, current_user=_user_from_database)

        write_guard = read_guard
    else:  # the seed's authorize on reads and on PUT; DELETE routes forgot it

        def read_guard(*permissions: str) -> Any:
            return weak_authz.authorize(
                *permissions, current_user=_user_from_token, permissions=PERMISSIONS
            )

        def write_guard(permission: str) -> Any:
            if permission == "posts:write":
                return read_guard(permission)
            return weak_authz.authenticated_only(_user_from_token)

    if fixes.get("check_owner") is not None:
        check_owner = _guarded("check_owner", fixes["check_owner"])
    else:
        check_owner = secure_authz.check_owner if secure else weak_authz.find_post

    update_model: type[BaseModel] | None
    if model_fix is not None:
        update_model = _update_model(model_fix)
    else:
        update_model = secure_authz.PostUpdate if secure else None

    _add_routes(app, db, read_guard, write_guard, check_owner, update_model)
    _add_lab_routes(app, store, db, auth, secure)
    _add_permission_pairs(app, read_guard)
    return app


def _add_permission_pairs(app: FastAPI, guard: Callable[..., Any]) -> None:
    """``GET /api/_lab/requires/{n}``: the caller, if ``authorize(*PERMISSION_PAIRS[n])`` lets
    them through (lab-only: the API's own routes each need one permission)."""
    for index, pair in enumerate(PERMISSION_PAIRS):

        def requires(user: Annotated[Any, Depends(guard(*pair))]) -> dict[str, Any]:
            return {"id": user.id, "role": user.role}

        app.get(f"/api/_lab/requires/{index}", include_in_schema=False)(requires)


def _add_routes(
    app: FastAPI,
    db: Database,
    read_guard: Callable[[str], Any],
    write_guard: Callable[[str], Any],
    check_owner: Callable[[Any, Any], Any],
    update_model: type[BaseModel] | None,
) -> None:
    @app.get("/api/posts")
    def list_posts(user: Annotated[Any, Depends(read_guard("posts:read"))]) -> list[dict[str, Any]]:
        return [asdict(p) for p in db.posts()]

    @app.get("/api/posts/{post_id}", response_model=None)
    def read_post(post_id: int, user: Annotated[Any, Depends(read_guard("posts:read"))]) -> Any:
        post = db.post(post_id)
        if post is None:
            return JSONResponse({"error": "Not found"}, status_code=404)
        return asdict(post)

    def update_post(post_id: int, changes: Any, user: Any) -> Any:
        check_owner(user, db.post(post_id))
        if isinstance(changes, BaseModel):  # only what the schema let through; null is "unset"
            data = changes.model_dump(exclude_unset=True, exclude_none=True)
        else:  # the catalogue's `data: req.body`
            data = weak_authz.apply_update(changes if isinstance(changes, dict) else {})
        db.update_post(post_id, data)
        post = db.post(post_id)
        return asdict(post) if post else JSONResponse({"error": "Not found"}, status_code=404)

    # the body's type is the learner's model (or a plain dict): set it on the signature
    update_post.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("post_id", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=int),
            inspect.Parameter(
                "changes",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                annotation=update_model or dict[str, Any],
            ),
            inspect.Parameter(
                "user",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=Depends(write_guard("posts:write")),
            ),
        ]
    )
    app.put("/api/posts/{post_id}", response_model=None)(update_post)

    @app.delete("/api/posts/{post_id}", status_code=204, response_model=None)
    def delete_post(
        post_id: int, user: Annotated[Any, Depends(write_guard("posts:delete"))]
    ) -> Any:
        check_owner(user, db.post(post_id))
        db.delete_post(post_id)
        return Response(status_code=204)

    @app.get("/api/users")
    def list_users(user: Annotated[Any, Depends(read_guard("users:read"))]) -> list[dict[str, Any]]:
        return [asdict(u) for u in db.users()]

    @app.delete("/api/users/{user_id}", status_code=204, response_model=None)
    def delete_user(
        user_id: int, user: Annotated[Any, Depends(write_guard("users:delete"))]
    ) -> Any:
        if db.user(user_id) is None:
            return JSONResponse({"error": "Not found"}, status_code=404)
        db.delete_user(user_id)
        return Response(status_code=204)


def _add_lab_routes(
    app: FastAPI, store: LabStore, db: Database, auth: BearerAuth, secure: bool
) -> None:
    @app.post("/api/_lab/accounts", status_code=201, include_in_schema=False)
    def new_account(body: NewAccount) -> dict[str, Any]:
        email = body.email or f"{body.role}-{secrets.token_hex(4)}@newsroom.example"
        password = secrets.token_urlsafe(12)
        record = store.add_user(email, body.role, FIXTURE_HASHER.hash(password))
        return {"id": record.id, "email": email, "role": body.role, "password": password}

    @app.post("/api/_lab/posts", status_code=201, include_in_schema=False)
    def new_post(body: NewPost) -> dict[str, Any]:
        return asdict(db.add_post(body.title, body.body, body.authorId))

    @app.get("/api/_lab/posts/{post_id}", include_in_schema=False, response_model=None)
    def stored_post(post_id: int) -> Any:
        post = db.post(post_id)
        return asdict(post) if post else JSONResponse({"error": "Not found"}, status_code=404)

    @app.get("/api/_lab/users/{user_id}", include_in_schema=False, response_model=None)
    def stored_user(user_id: int) -> Any:
        user = db.user(user_id)
        return asdict(user) if user else JSONResponse({"error": "Not found"}, status_code=404)

    @app.post("/api/_lab/users/{user_id}/role", include_in_schema=False, response_model=None)
    def change_role(user_id: int, body: RoleChange) -> Any:
        """An admin changes a role. The secure app also revokes the user's tokens."""
        if db.user(user_id) is None:
            return JSONResponse({"error": "Not found"}, status_code=404)
        db.set_role(user_id, body.role)
        if secure:  # defence in depth: tokens carrying the old role die now (lab 02's logout)
            auth.service.logout({"sub": str(user_id)})
        return asdict(db.user(user_id))

    @app.delete("/api/_lab/users/{user_id}", include_in_schema=False, response_model=None)
    def remove_user(user_id: int) -> Any:
        """An admin removes an account (its tokens stay valid until they expire)."""
        if db.user(user_id) is None:
            return JSONResponse({"error": "Not found"}, status_code=404)
        db.delete_user(user_id)
        return Response(status_code=204)

    @app.get("/api/_lab/dump", include_in_schema=False)
    def dump() -> dict[str, list[dict[str, Any]]]:
        return {
            "users": [asdict(u) for u in db.users()],
            "posts": [asdict(p) for p in db.posts()],
        }
