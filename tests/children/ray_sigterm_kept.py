"""Starts and stops a local Ray instance inside ``sigterm_kept``, with a SIGTERM handler of its
own, and prints one JSON object: for the moment just after ``ray.init`` and just after
``ray.shutdown`` (both still inside the block), whether the kernel's action for SIGTERM is
Python's handler (not Ray's native one, nor the default), and whether a SIGTERM sent to itself
then reached the handler."""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import time
from typing import Any

from framepipe.streams.ray_signals import sigterm_kept

libc = ctypes.CDLL(None, use_errno=True)


class _Action(ctypes.Structure):  # struct sigaction on Linux: only the handler is read
    _fields_ = [("handler", ctypes.c_void_p), ("rest", ctypes.c_char * 256)]


def kernel_action() -> int | None:
    action = _Action()
    libc.sigaction(signal.SIGTERM, None, ctypes.byref(action))
    return action.handler


received: list[int] = []


def handler(signum: int, frame: Any) -> None:
    received.append(signum)


def sigterm_reaches_handler() -> bool:
    before = len(received)
    os.kill(os.getpid(), signal.SIGTERM)
    deadline = time.monotonic() + 5.0
    while len(received) == before and time.monotonic() < deadline:
        time.sleep(0.01)
    return len(received) > before


def main() -> None:
    signal.signal(signal.SIGTERM, handler)
    pythons = kernel_action()
    import ray

    seen: dict[str, Any] = {}
    with sigterm_kept(ray, handler):
        # address="local": an instance of its own, never a cluster another test runs meanwhile
        # (without an address, ray.init joins the one whose address Ray keeps in /tmp/ray).
        ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR)  # fmt: skip
        ours = signal.getsignal(signal.SIGTERM) is handler
        seen["after_init"] = [kernel_action() == pythons, ours, sigterm_reaches_handler()]
    with sigterm_kept(ray, handler):
        ray.shutdown()
        seen["after_shutdown"] = [kernel_action() == pythons, sigterm_reaches_handler()]
    seen["left"] = signal.getsignal(signal.SIGTERM) is handler
    print(json.dumps(seen), flush=True)


if __name__ == "__main__":
    main()
