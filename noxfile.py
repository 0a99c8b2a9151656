"""nox sessions: the test suite on every Python framepipe supports.

``nox -s tests`` runs the suite once per version in ``PYTHONS``, each in a fresh virtualenv with
``.[test]`` installed; ``nox -s tests-3.13`` runs one version, and arguments after ``--`` go to
pytest (``nox -s tests -- tests/test_typing.py``). Each run spreads its tests over pytest-xdist
workers (pyproject's addopts; ``-- -n 0`` runs them in one process). ``nox -s quick`` runs the
suite without its slowest modules (``SLOW_MODULES``: child processes, servers, Ray, long runs),
about a minute a version. CI runs the whole suite on the oldest version (the README's command)
and on the newest (``tests-3.13``), and ``quick`` on the versions between them.

An interpreter is found on ``PATH`` (``python3.X``) or, where pyenv is installed, in its versions
directory (``$(pyenv root)/versions/3.X.*/bin``), which is put on ``PATH`` here, before nox looks
for interpreters. A version found nowhere is named when the noxfile loads, and its session is
skipped (nox's "interpreter not found"); ``nox --error-on-missing-interpreters`` makes that a
failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

import nox

# The versions of pyproject.toml's classifiers.
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]

nox.options.sessions = ["tests"]

# The modules that take most of the suite's time (each several seconds or more): ``quick`` leaves
# them out. Everything else, new modules included, is in the quick subset.
SLOW_MODULES = [
    "tests/test_cli_bench.py",
    "tests/test_cli_run.py",
    "tests/test_cli_serve.py",
    "tests/test_cli_serve_ray.py",
    "tests/test_cli_serve_service.py",
    "tests/test_cli_several.py",
    "tests/test_cli_single.py",
    "tests/test_docs.py",
    "tests/test_logging_channel.py",
    "tests/test_logging_lifecycle.py",
    "tests/test_monitor_dashboard.py",
    "tests/test_monitor_previews.py",
    "tests/test_monitor_prometheus.py",
    "tests/test_monitor_restarts.py",
    "tests/test_monitor_server.py",
    "tests/test_pipeline_live_memory.py",
    "tests/test_pipeline_parallel.py",
    "tests/test_pipeline_reconnect.py",
    "tests/test_pipeline_reconnect_memory.py",
    "tests/test_pipeline_results.py",
    "tests/test_pipeline_runner.py",
    "tests/test_pipeline_stats.py",
    "tests/test_pipeline_stats_server.py",
    "tests/test_reliability.py",
    "tests/test_signal_sweep.py",
    "tests/test_soak.py",
    "tests/test_source_display.py",
    "tests/test_streams_api.py",
    "tests/test_streams_attempts.py",
    "tests/test_streams_churn.py",
    "tests/test_streams_live_set.py",
    "tests/test_streams_ray.py",
    "tests/test_streams_ray_cluster.py",
    "tests/test_streams_ray_live_set.py",
    "tests/test_streams_results.py",
    "tests/test_streams_supervisor.py",
    "tests/test_streams_worker.py",
]


def _pyenv_root() -> str | None:
    """pyenv's root directory: ``$PYENV_ROOT``, ``pyenv root``, or None without pyenv."""
    root = os.environ.get("PYENV_ROOT")
    if root:
        return root
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return None
    try:
        out = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _pyenv_bin_dirs(versions: list[str]) -> dict[str, str]:
    """For each version, the bin directory of pyenv's newest install of it that has python3.X."""
    root = _pyenv_root()
    found: dict[str, str] = {}
    if root is None:
        return found
    for version in versions:
        candidates = sorted(
            glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", f"python{version}")),
            key=lambda p: [int(part) if part.isdigit() else -1 for part in
                           os.path.basename(os.path.dirname(os.path.dirname(p))).split(".")],
        )  # fmt: skip
        if candidates:
            found[version] = os.path.dirname(candidates[-1])
    return found


def _find_interpreters(versions: list[str]) -> list[str]:
    """Puts pyenv's interpreters that PATH lacks on PATH; returns the versions found nowhere.

    pyenv's shims are not relied on: a shim answers only for the versions pyenv has selected.
    """
    path = os.environ.get("PATH", "")
    shims = os.path.join(_pyenv_root() or "\0", "shims")
    plain_path = os.pathsep.join(d for d in path.split(os.pathsep) if d != shims)
    on_path = {v for v in versions if shutil.which(f"python{v}", path=plain_path)}
    added = [d for v, d in _pyenv_bin_dirs(versions).items() if v not in on_path]
    if added:
        os.environ["PATH"] = os.pathsep.join([*added, path])
    return [v for v in versions if shutil.which(f"python{v}") is None]


MISSING = _find_interpreters(PYTHONS)
if MISSING:
    print(
        f"nox: no interpreter for Python {', '.join(MISSING)} on PATH or in pyenv's versions;"
        " those sessions are skipped",
        file=sys.stderr,
    )


# uv makes the virtualenvs and installs into them when it is installed (much faster than pip,
# which matters in CI's several sessions); virtualenv and pip otherwise.
VENV_BACKEND = "uv|virtualenv"
# Only the interpreters found here are tested: uv must not download one of its own.
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
# uv leaves what it installs uncompiled (pip compiles it): the suite starts many Python
# processes, and each would compile numpy's, OpenCV's and framepipe's modules again wherever
# PYTHONDONTWRITEBYTECODE keeps them from being cached.
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")


@nox.session(python=PYTHONS, venv_backend=VENV_BACKEND)
def tests(session: nox.Session) -> None:
    """Installs .[test] and runs pytest, with any arguments given after ``--``."""
    session.install(".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHONS, venv_backend=VENV_BACKEND)
def quick(session: nox.Session) -> None:
    """Installs .[test] and runs the suite without ``SLOW_MODULES``."""
    session.install(".[test]")
    ignored = [f"--ignore={module}" for module in SLOW_MODULES]
    session.run("pytest", *ignored, *session.posargs)
