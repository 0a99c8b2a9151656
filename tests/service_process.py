"""A real ``framepipe serve`` process for the tests, and its HTTP API over real sockets."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

from helpers import wait_until

__all__ = ["Answer", "Service"]

START_S = 60.0  # a cold interpreter, the forkserver and the first workers on a busy machine


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    document: Any  # the JSON body, or None


class Service:
    """``framepipe serve --config CONFIG --summary-json SUMMARY [FLAGS]`` with stderr to a file.

    Leaving the ``with`` block kills whatever is still running.
    """

    def __init__(
        self, config: Path, tmp_path: Path, env: dict[str, str] | None = None,
        flags: tuple[str, ...] = (), start_s: float = START_S,
    ) -> None:  # fmt: skip
        self.summary = tmp_path / "summary.json"
        self.err = tmp_path / "serve-err.txt"
        with self.err.open("w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "framepipe", "serve", "--config", str(config),
                 "--summary-json", str(self.summary), *flags],
                stdout=subprocess.PIPE, stderr=stderr, text=True,
                env={**os.environ, **(env or {})},
            )  # fmt: skip
        self.url = wait_until(self._url, self._not_yet, timeout=start_s)
        parts = urlsplit(self.url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.out = ""

    def _url(self) -> str | None:
        for line in self.err.read_text().splitlines():
            if "stats server on " in line:
                return line.split("stats server on ", 1)[1].strip()
        return None

    def _not_yet(self) -> str:
        code = self.process.poll()
        ended = "" if code is None else f" (it ended with exit code {code})"
        return f"the service's stats server{ended}: {self.err.read_text()}"

    def request(
        self, method: str, path: str, body: Any = None, *, token: str | None = None,
        raw: bytes | None = None, headers: dict[str, str] | None = None,
    ) -> Answer:  # fmt: skip
        """One request on a connection of its own; the answer's JSON parsed."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        try:
            connection.request(method, path, body=data, headers=sent)
            reply = connection.getresponse()
            payload = reply.read()
            document = json.loads(payload) if payload else None
            return Answer(reply.status, {k.lower(): v for k, v in reply.getheaders()}, document)
        finally:
            connection.close()

    def stream(self, name: str) -> dict[str, Any]:
        answer = self.request("GET", f"/streams/{name}")
        assert answer.status == 200, answer
        return dict(answer.document)

    def names(self) -> list[str]:
        return [s["name"] for s in self.request("GET", "/streams").document["streams"]]

    def frames(self, name: str) -> int:
        return int(self.stream(name)["state"]["frames_processed"])

    def wait_frames(self, name: str, count: int = 1, timeout: float = START_S) -> None:
        wait_until(
            lambda: name in self.names() and self.frames(name) >= count,
            lambda: f"{count} frames of {name}: {self.request('GET', '/streams').document}",
            timeout=timeout,
            interval=0.05,
        )

    def metrics(self) -> str:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.request("GET", "/metrics")
            return connection.getresponse().read().decode()
        finally:
            connection.close()

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM; the exit code once it ended (stdout kept in ``out``)."""
        self.signal(signal.SIGTERM)
        self.out, _ = self.process.communicate(timeout=timeout)
        return self.process.returncode

    def log_text(self, log_dir: Path) -> str:
        return "".join(path.read_text() for path in sorted(log_dir.glob("logs_*.txt")))

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            for child in self.descendants():
                child.kill()
            self.process.kill()
            self.process.wait(10)
