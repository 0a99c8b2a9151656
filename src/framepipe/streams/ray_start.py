"""A local Ray instance that would not start: what it left running is stopped, and a start that
ran out of time is tried once more.

``ray.init`` of a local instance starts its processes (the GCS, a raylet, Ray's monitors) and
then gives the raylet a fixed 30 s to register with the GCS. On a machine busy enough, that is
not enough, and ``ray.init`` raises with every process it started still running: nothing holds
them any more, so they would run until the program exits (Ray's reaper ends them then). Within
:func:`start_local`, they are stopped as soon as the start fails, and a start that timed out
is tried once more, with the machine no longer running the first one's processes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol

import psutil

from framepipe._text import one_line

__all__ = ["START_ATTEMPTS", "start_local"]

START_ATTEMPTS = 2  # a start that timed out, once more; any other failure is final
STOP_WAIT_S = 5.0  # a process asked to end has this long before it is killed
_TIMED_OUT = "timed out"  # Ray's words when the raylet did not register in time
# Ray's own processes: its binaries, its Python helpers (their scripts are in Ray's package) and
# its workers, which name themselves ``ray::...``.
_RAY_BINARIES = ("gcs_server", "raylet")


class _Warns(Protocol):
    def warning(self, msg: str, *args: object) -> None: ...


def start_local(
    init: Callable[[], None], logger: _Warns, *, attempts: int = START_ATTEMPTS
) -> None:
    """``init()`` (a ``ray.init`` starting a local instance); when it raises, the Ray processes
    it left running are stopped, and a start that timed out is tried again, up to ``attempts``
    starts in all. The last failure is raised."""
    for attempt in range(1, attempts + 1):
        before = {child.pid for child in _children()}
        try:
            init()
            return
        except BaseException as exc:
            _stop(_ray_processes_since(before))
            if attempt == attempts or not isinstance(exc, Exception) or _TIMED_OUT not in str(exc):
                raise
            logger.warning(
                "the local Ray instance did not start in time (%s); its processes were stopped, "
                "starting it once more",
                one_line(exc),
            )


def _children() -> list[psutil.Process]:
    try:
        children: list[psutil.Process] = psutil.Process().children(recursive=True)
    except psutil.Error:
        return []
    return children


def _ray_processes_since(before: set[int]) -> list[psutil.Process]:
    """This process's descendants started since ``before`` that are Ray's, with their own
    descendants; never a process of the application's."""
    ray_package = _ray_package()
    found: dict[int, psutil.Process] = {}
    for process in _children():
        if process.pid in before or process.pid in found:
            continue
        try:
            if not _is_rays(process, ray_package):
                continue
            found[process.pid] = process
            for child in process.children(recursive=True):
                found.setdefault(child.pid, child)
        except psutil.Error:
            continue  # already gone
    return list(found.values())


def _ray_package() -> str | None:
    try:
        import ray
    except ImportError:
        return None
    return os.path.dirname(os.path.abspath(ray.__file__))


def _is_rays(process: psutil.Process, ray_package: str | None) -> bool:
    name = process.name()
    if name in _RAY_BINARIES or name.startswith("ray::"):
        return True
    command = process.cmdline()
    if command and command[0].startswith("ray::"):
        return True
    return ray_package is not None and any(part.startswith(ray_package) for part in command)


def _stop(processes: list[psutil.Process]) -> None:
    """End them: asked first, killed after :data:`STOP_WAIT_S` (a stopped process too)."""
    for process in processes:
        try:
            process.terminate()
            process.resume()  # a stopped process acts on the request only once continued
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(processes, timeout=STOP_WAIT_S)
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=STOP_WAIT_S)
