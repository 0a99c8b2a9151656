"""Real small and read-only file systems for tests: a tmpfs mounted for the test, when allowed.

Tests run as root in CI, where a chmod-0555 directory is still writable, so a read-only place
has to be a read-only mount. Where mounting is not permitted, the test is skipped with the
reason, or uses a directory the kernel refuses to write even for root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=False)


@contextmanager
def tmpfs(path: Path, size: str, *, read_only: bool = False) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` (e.g. ``"200k"``) on ``path`` for the block; skip if refused."""
    if shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("mount/umount are not installed, so no small file system can be made")
    path.mkdir(parents=True, exist_ok=True)
    mounted = _run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(path))
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {mounted.stderr.strip()}")
    try:
        if read_only:
            remounted = _run("mount", "-o", "remount,ro", str(path))
            if remounted.returncode != 0:
                pytest.skip(f"remounting read-only is not permitted: {remounted.stderr.strip()}")
        yield path
    finally:
        if _run("umount", str(path)).returncode != 0:
            _run("umount", "-l", str(path))


@contextmanager
def read_only_dir(path: Path) -> Iterator[Path]:
    """A directory no one may create files in: a read-only tmpfs, else one under /proc."""
    if os.geteuid() != 0:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(0o755)
        return
    if shutil.which("mount") is not None:
        path.mkdir(parents=True, exist_ok=True)
        probe = _run("mount", "-t", "tmpfs", "-o", "size=64k,ro", "tmpfs", str(path))
        if probe.returncode == 0:
            try:
                yield path
            finally:
                if _run("umount", str(path)).returncode != 0:
                    _run("umount", "-l", str(path))
            return
    fallback = Path("/proc/self")
    if fallback.is_dir() and not os.access(fallback, os.W_OK):
        yield fallback
        return
    pytest.skip("no read-only directory: mounting is refused and /proc is not available")
