"""The ``labkit`` command: serve, build, edition, grade, progress, doctor, lab, list."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
VULNERABLE_WARNING = (
    "WARNING: serving a DELIBERATELY VULNERABLE app on {host}. Anyone who can reach this "
    "address can exploit it. Stop it with Ctrl-C when you are done."
)
SECURE_WARNING = (
    "WARNING: serving a lab app on {host} with its lab-only routes (/api/_lab/..., which "
    "hand out seeded passwords) and companions. Anyone who can reach this address can use "
    "them. Stop it with Ctrl-C when you are done."
)


def _serve(args: argparse.Namespace) -> int:
    from labkit.edition import STUDENT, secure_refusal
    from labkit.exercises.registry import UnknownLab, get_lab
    from labkit.sandbox.lab_server import LabServer
    from labkit.sandbox.peer import describe_access
    from labkit.sandbox.server import SandboxError

    if args.secure and STUDENT:
        print(secure_refusal(args.lab), file=sys.stderr)
        return 2
    if args.host not in LOOPBACK_HOSTS:
        # --secure too: every lab app keeps its lab-only routes (/api/_lab/..., which hand out
        # seeded passwords) and its companions (attacker pages, OAuth client).
        if not args.i_know_this_is_vulnerable:
            what = "secure reference app (with its lab-only routes)" if args.secure else "app"
            print(
                f"refusing to serve the {args.lab} {what} on {args.host}: add "
                "--i-know-this-is-vulnerable",
                file=sys.stderr,
            )
            return 2
        warning = SECURE_WARNING if args.secure else VULNERABLE_WARNING
        print(warning.format(host=args.host), file=sys.stderr)
    try:
        definition = get_lab(args.lab)
    except UnknownLab as exc:
        print(exc, file=sys.stderr)
        return 2
    server = LabServer(
        definition.create_app(secure=args.secure), name=args.lab, host=args.host, port=args.port
    )
    state = server.state
    try:
        server.start()
    except SandboxError as exc:
        state.close()
        print(exc, file=sys.stderr)
        return 1
    stop = threading.Event()
    # Ctrl-C and SIGTERM stop it, even when it was started with them ignored or blocked
    # (both survive exec: a shell's `&` job ignores SIGINT)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    mode = "secure" if args.secure else "vulnerable"
    print(f"Serving {args.lab} ({mode}) at {server.url}")
    for user in state.users.values():
        print(f"account {user.email} {user.role} {user.password}")
    for key, value in state.extras.items():
        print(f"{key} {value}")
    print(f"access {describe_access()}")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


def _build(args: argparse.Namespace) -> int:
    from labkit.course.build import BuildError, build_course, stale_notebooks

    course, notebooks = Path(args.course), Path(args.out)
    try:
        if args.check:
            stale = stale_notebooks(course, notebooks)
            if stale:
                print(
                    f"notebooks/ is stale: {', '.join(stale)} — run `labkit build`",
                    file=sys.stderr,
                )
                return 1
            print(f"{notebooks}/ is up to date with {course}/")
            return 0
        written = build_course(course, notebooks)
        print(f"wrote {len(written)} learner notebooks to {notebooks}/")
        if args.solved:
            solved = build_course(course, Path(args.solved), solved=True)
            print(f"wrote {len(solved)} solved notebooks to {args.solved}/")
    except BuildError as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1
    return 0


def _edition(args: argparse.Namespace) -> int:
    from labkit.course.build import BuildError
    from labkit.course.edition import EditionError, build_edition
    from labkit.edition import KEPT

    try:
        done = build_edition(Path(args.course), Path(args.out_dir))
    except (BuildError, EditionError, OSError) as exc:
        print(f"edition failed: {exc}", file=sys.stderr)
        return 1
    labs = sorted({lab for a in done.left_out for lab in a.lab.split(", ")})
    print(f"wrote the student edition to {done.out}/: {len(done.notebooks)} release notebooks "
          f"in notebooks/, an installable labkit (pip install {done.out})")  # fmt: skip
    print(f"left out: labkit.course, labkit.grading, the solved builds, and {len(done.left_out)} "
          f"reference definitions ({', '.join(labs)}); labkit serve --secure refuses")  # fmt: skip
    print("still readable in it (the lab apps or the checks need them):")
    for kept in KEPT:
        print(f"  {kept.answers}: {', '.join(kept.targets)} ({kept.why})")
    return 0


def _instructor_only(command: str) -> int:
    print(f"labkit {command} is an instructor command: the student edition does not ship it",
          file=sys.stderr)  # fmt: skip
    return 2


def _progress(args: argparse.Namespace) -> int:
    from labkit.exercises.dashboard import progress
    from labkit.exercises.progress import ProgressStore

    store = ProgressStore()
    if args.export:
        print(f"exported progress to {store.export(Path(args.export))}")
    elif args.import_:
        try:
            store.import_(Path(args.import_))
        except (OSError, ValueError) as exc:
            print(f"cannot import {args.import_}: {exc}", file=sys.stderr)
            return 1
        print(f"merged {args.import_} into {store.path}")
    elif args.reset:
        store.reset()
        print(f"progress reset ({store.path})")
    elif args.summary:
        from labkit.exercises.completion import course_summary

        summary = course_summary(args.name or "", store)
        print(f"course summary written to {summary.export_html(args.summary)}")
    else:
        print(progress(store))
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from labkit.doctor import run

    return run()


def _lab(args: argparse.Namespace) -> int:
    from labkit.workspace import WORK_DIR, sync_workspace

    sync_workspace()
    notebook = WORK_DIR / "00-welcome.ipynb"
    command = [sys.executable, "-m", "jupyter", "lab", "--ip=127.0.0.1", f"--port={args.port}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    command.append(str(notebook) if notebook.exists() else ".")
    return subprocess.call(command)  # noqa: S603 - our own interpreter and fixed arguments


def _work(args: argparse.Namespace) -> int:
    from labkit.workspace import fresh_copy, sync_workspace

    if args.fresh:
        try:
            print(f"fresh copy: {fresh_copy(args.fresh)} (your old one is in work/old/)")
        except FileNotFoundError as exc:
            print(exc, file=sys.stderr)
            return 2
        return 0
    done = sync_workspace()
    print(f"{done.folder}/: copied {len(done.copied)} notebook(s), kept {len(done.kept)} of yours")
    return 0


def _grade_problem(args: argparse.Namespace) -> str:
    """Why ``labkit grade`` cannot start with these arguments ('' when it can)."""
    from labkit.grading.canonical import Course
    from labkit.grading.gradebook import read_gradebook

    root, course, out = Path(args.submissions), Path(args.course), Path(args.out)
    if not root.is_dir():
        return f"no such folder: {root}"
    if not course.is_dir():
        return f"no course sources in {course} (use --course DIR)"
    known = Course(course).labs
    if unknown := sorted({*(args.lab or ()), *(args.labs or ())} - set(known)):
        return f"no such lab in {course}: {', '.join(unknown)} (labs: {', '.join(known)})"
    if (args.student or args.lab or args.resume) and out.exists():
        try:
            read_gradebook(out)
        except (OSError, ValueError, KeyError) as exc:
            return f"cannot merge into {out}: {exc}"
    return ""


def _grade(args: argparse.Namespace) -> int:
    from labkit.grading.execute import Limits
    from labkit.grading.grade import grade

    if problem := _grade_problem(args):
        print(problem, file=sys.stderr)
        return 2
    limits = Limits(cell_s=args.cell_timeout, notebook_s=args.timeout, memory_mb=args.memory)
    runner = None
    if args.cluster:
        from labkit.grading.cluster import ClusterUnavailable, run_on_cluster

        try:
            runner = run_on_cluster(args.cluster)
        except ClusterUnavailable as exc:
            print(exc, file=sys.stderr)
            return 2
    rows = grade(
        Path(args.submissions),
        Path(args.out),
        course_dir=Path(args.course),
        html=Path(args.html) if args.html else None,
        feedback=Path(args.feedback) if args.feedback else None,
        jobs=args.jobs,
        limits=limits,
        students=args.student or (),
        labs=args.lab or (),
        count_labs=args.labs or (),
        resume=args.resume,
        runner=runner,
    )
    statuses = ("passed", "failed", "not-evaluated", "error")
    counts = ", ".join(f"{sum(r.status == s for r in rows)} {s}" for s in statuses)
    print(f"wrote {args.out}: {counts}")
    return 0


def _collect(args: argparse.Namespace) -> int:
    from labkit.grading.canonical import Course
    from labkit.grading.collect import collect

    homes, course = Path(args.homes), Path(args.course)
    if not homes.is_dir():
        print(f"no such folder: {homes}", file=sys.stderr)
        return 2
    if not course.is_dir():
        print(f"no course sources in {course} (use --course DIR)", file=sys.stderr)
        return 2
    done = collect(homes, Path(args.out), Course(course), prefix=args.prefix)
    for student, source, target in done.copied:
        print(f"{student}: {source} -> {target}")
    print(f"collected {len(done.copied)} notebooks of {done.students} students into {args.out}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from labkit.grading.canonical import Course
    from labkit.grading.grade import totals, write_outputs
    from labkit.grading.gradebook import read_gradebook

    book = Path(args.gradebook)
    try:
        rows = read_gradebook(book)
    except (OSError, ValueError, KeyError) as exc:
        print(f"cannot read {book}: {exc}", file=sys.stderr)
        return 2
    course = Course(Path(args.course)) if Path(args.course).is_dir() else None
    html = Path(args.html) if args.html else None
    feedback = Path(args.feedback) if args.feedback else None
    write_outputs(
        rows, book, html=html, feedback=feedback, totals=totals(rows, course, args.labs or ())
    )
    written = [str(p) for p in (html, feedback) if p is not None]
    print(f"rebuilt from {book}: the summary" + "".join(f", {w}" for w in written))
    return 0


def _list(args: argparse.Namespace) -> int:
    from labkit.exercises.registry import LABS, get_lab

    for lab_id in LABS:
        lab = get_lab(lab_id)
        print(f"{lab_id:<16} {lab.title}  ({len(lab.checks)} checks)")
    return 0


def _labs_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--labs",
        type=lambda text: [lab for lab in text.split(",") if lab],
        action="extend",
        metavar="LAB,LAB",
        help="the labs the summary's percent is over (default: every lab in the gradebook)",
    )


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="labkit", description="Security Patterns Workbook")
    commands = top.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve one lab app for curl, Burp, ZAP, sqlmap")
    serve.add_argument("lab", help="lab id, e.g. 01-passwords")
    serve.add_argument("--secure", action="store_true", help="serve the fixed reference app")
    serve.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    serve.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    serve.add_argument(
        "--i-know-this-is-vulnerable",
        action="store_true",
        help="allow a vulnerable app on a non-loopback interface",
    )
    serve.set_defaults(run=_serve)

    build = commands.add_parser("build", help="build notebooks/ from course/")
    build.add_argument("--course", default="course", help="sources (default: course)")
    build.add_argument("--out", default="notebooks", help="learner release (default: notebooks)")
    build.add_argument("--solved", metavar="DIR", help="also write solved notebooks to DIR")
    build.add_argument("--check", action="store_true", help="fail if notebooks/ is stale")
    build.set_defaults(run=_build)

    edition = commands.add_parser(
        "edition", help="build the student edition: release notebooks + labkit without answers"
    )
    edition.add_argument("out_dir", help="where to write it (new, or an earlier edition)")
    edition.add_argument("--course", default="course", help="sources (default: course)")
    edition.set_defaults(run=_edition)

    prog = commands.add_parser("progress", help="show, export, import or reset progress")
    group = prog.add_mutually_exclusive_group()
    group.add_argument("--export", metavar="FILE")
    group.add_argument("--import", dest="import_", metavar="FILE")
    group.add_argument("--reset", action="store_true")
    group.add_argument("--summary", metavar="FILE", help="write the course summary as HTML")
    prog.add_argument("--name", help="the learner's name on the summary page")
    prog.set_defaults(run=_progress)

    commands.add_parser("doctor", help="what is installed and what is missing").set_defaults(
        run=_doctor
    )
    lab = commands.add_parser("lab", help="open JupyterLab on the welcome notebook")
    lab.add_argument("--port", type=int, default=8888)
    lab.set_defaults(run=_lab)
    commands.add_parser("list", help="list the labs").set_defaults(run=_list)
    work = commands.add_parser(
        "work", help="your own copies of the notebooks in work/ (never overwritten)"
    )
    work.add_argument("--fresh", metavar="LAB", help="set your copy of LAB aside, take a new one")
    work.set_defaults(run=_work)

    grade = commands.add_parser("grade", help="grade a folder of submissions (see INSTRUCTORS.md)")
    grade.add_argument("submissions", help="SUBMISSIONS_DIR/<student>/<NN-name>.ipynb")
    grade.add_argument("--out", default="gradebook.csv", help="gradebook CSV (%(default)s)")
    grade.add_argument("--html", metavar="FILE", help="also write an HTML report")
    grade.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel submissions")
    grade.add_argument("--timeout", type=float, default=600.0, help="seconds per notebook")
    grade.add_argument("--cell-timeout", type=float, default=120.0, help="seconds per cell")
    grade.add_argument(
        "--memory", type=int, default=2048, help="MB of memory (RLIMIT_DATA) per kernel process"
    )
    grade.add_argument("--course", default="course", help="course sources (default: course)")
    grade.add_argument(
        "--feedback", metavar="DIR", help="write one HTML feedback page per student to DIR"
    )
    grade.add_argument("--student", action="append", help="(re)grade only this student (repeat)")
    grade.add_argument("--lab", action="append", help="(re)grade only this lab (repeat)")
    grade.add_argument(
        "--resume", action="store_true", help="keep what --out and its journal hold; grade the rest"
    )
    grade.add_argument("--cluster", metavar="ADDRESS", help="grade on a Dask scheduler")
    _labs_option(grade)
    grade.set_defaults(run=_grade)

    collect = commands.add_parser(
        "collect", help="copy every learner's lab notebooks from a JupyterHub's home folders"
    )
    collect.add_argument("homes", help="the folder of home folders (e.g. /home)")
    collect.add_argument("--out", default="submissions", help="where to (%(default)s)")
    collect.add_argument(
        "--prefix", default="jupyter-", help="home folder = PREFIX + login (%(default)s, TLJH)"
    )
    collect.add_argument("--course", default="course", help="course sources (default: course)")
    collect.set_defaults(run=_collect)

    report = commands.add_parser("report", help="rebuild the summary, report and feedback")
    report.add_argument("gradebook", help="a gradebook CSV written by labkit grade")
    report.add_argument("--html", metavar="FILE", help="the class report")
    report.add_argument("--feedback", metavar="DIR", help="one HTML page per student")
    report.add_argument("--course", default="course", help="course sources (default: course)")
    _labs_option(report)
    report.set_defaults(run=_report)
    return top


INSTRUCTOR_COMMANDS = ("build", "edition", "grade", "collect", "report")


def main(argv: Sequence[str] | None = None) -> int:
    from labkit.edition import STUDENT

    args = parser().parse_args(argv)
    if STUDENT and args.command in INSTRUCTOR_COMMANDS:
        return _instructor_only(args.command)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
