"""Several processes, one log: children's records reach the parent's one writer, none lost.

The children are real processes (``spawn`` unless a test is about ``fork``) and the file is the
parent's real rotating log; every line names its process and its number there (``[stream pid
#seq]``), so the tests can tell a lost, doubled or mangled record from the others.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import signal
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from multiprocessing.context import BaseContext
from pathlib import Path

import pytest

import logging_children
from framepipe.logging import (
    BatchRotatingFileHandler,
    Logger,
    address,
    configure,
    connect,
)
from framepipe.logging._channel import CHANNEL_FORMAT
from framepipe.logging._sinks import DEFAULT_DATEFMT
from helpers import child_command

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs POSIX processes")

JOIN_TIMEOUT_S = 60.0
# One line of the channel format: time, level, [stream pid #seq], logger name, message.
LINE = re.compile(
    r"(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) (?P<level>[A-Z]+) +"
    r"\[(?P<stream>\S+) (?P<pid>\d+) #(?P<seq>\d+)\] (?P<name>\S+): (?P<message>.*)"
)
TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ")
SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture
def children() -> Iterator[list[multiprocessing.process.BaseProcess]]:
    """Child processes a test starts: none outlives it."""
    started: list[multiprocessing.process.BaseProcess] = []
    yield started
    for child in started:
        if child.is_alive():
            child.kill()
        child.join(timeout=JOIN_TIMEOUT_S)


def start(
    started: list[multiprocessing.process.BaseProcess], target: object, *args: object,
    context: BaseContext = SPAWN,
) -> multiprocessing.process.BaseProcess:
    child = context.Process(target=target, args=args)  # type: ignore[attr-defined]
    child.start()
    started.append(child)
    return child


def join(child: multiprocessing.process.BaseProcess) -> int | None:
    child.join(timeout=JOIN_TIMEOUT_S)
    assert not child.is_alive(), "the child did not end"
    return child.exitcode


def log_files(log: Logger) -> list[Path]:
    """The logger's file (or the slow sink's) and its rotated backups, oldest first."""
    current = Path(log.get_stats()["log_file"] or SlowSink.path)
    backups = sorted(
        current.parent.glob(current.name + ".*"), key=lambda p: -int(p.suffix.lstrip("."))
    )
    return [*backups, current]


def parsed_lines(log: Logger, tracebacks: bool = False) -> list[re.Match[str]]:
    """Every line of every file, each of which must be one whole record of the channel format
    (with ``tracebacks``, lines that do not start with a time continue the record before)."""
    assert log.flush(timeout=30)
    matches = []
    for path in log_files(log):
        for line in path.read_text(encoding="utf-8").splitlines():
            match = LINE.fullmatch(line)
            if match is None and tracebacks and matches and not TIME.match(line):
                continue
            assert match is not None, f"not one whole record: {line!r} in {path.name}"
            matches.append(match)
    return matches


class SlowSink(BatchRotatingFileHandler):
    """The parent's file, slowed per batch: a child ends while its records are on their way."""

    path = ""

    def write_lines(self, lines: list[str]) -> None:  # type: ignore[override]
        time.sleep(0.01)
        super().write_lines(lines)


def slow_parent(tmp_path: Path, **settings: object) -> Logger:
    """A parent whose small queue and slow file hold its children back (they wait, not drop)."""
    settings = {"queue_size": 64, "overflow": "block", "block_timeout": 30.0, **settings}
    SlowSink.path = str(tmp_path / "parent.log")
    sink = SlowSink(SlowSink.path, encoding="utf-8")
    sink.setFormatter(logging.Formatter(CHANNEL_FORMAT, DEFAULT_DATEFMT))
    return configure(handlers=[sink], capture_stdlib=False, **settings)  # type: ignore[arg-type]


def messages_of(log: Logger, stream: str) -> list[str]:
    return [m["message"] for m in parsed_lines(log, tracebacks=True) if m["stream"] == stream]


# -- many records, many processes ------------------------------------------------------------------

CHILDREN = 4
PER_CHILD = 100_000
MAX_BYTES = 1_000_000


def test_four_processes_through_rotation_leave_every_record_in_exactly_one_file(
    tmp_path: Path, children: list[multiprocessing.process.BaseProcess]
) -> None:
    """4 x 100,000 records through one rotating file: each exactly once, whole, in order."""
    log = configure(
        log_dir=tmp_path, max_bytes=MAX_BYTES, backup_count=1000, overflow="block",
        block_timeout=30.0, capture_stdlib=False,
    )
    channel = address()
    for i in range(CHILDREN):
        start(children, logging_children.log_records, channel, f"w{i}", PER_CHILD)
    assert [join(child) for child in children] == [0] * CHILDREN

    seen: dict[int, list[int]] = defaultdict(list)
    streams: dict[int, str] = {}
    for match in parsed_lines(log):
        pid, seq = int(match["pid"]), int(match["seq"])
        assert match["message"] == f"record {seq - 1}"
        seen[pid].append(seq)
        streams[pid] = match["stream"]
    assert sorted(streams.values()) == [f"w{i}" for i in range(CHILDREN)]
    for pid, seqs in seen.items():
        # Every record once, and files oldest to newest hold each process's records in order.
        assert seqs == list(range(1, PER_CHILD + 1)), f"{streams[pid]}: lost, doubled or moved"
    files = log_files(log)
    assert len(files) > 10  # the file really rotated, many times
    assert all(path.stat().st_size <= MAX_BYTES for path in files)
    stats = log.get_stats()
    assert stats["channel"]["received"] == CHILDREN * PER_CHILD
    assert stats["accepted"] == stats["written"] == CHILDREN * PER_CHILD
    assert stats["errors"] == stats["dropped"] == 0


def test_the_parents_stats_count_the_childrens_records(
    tmp_path: Path, children: list[multiprocessing.process.BaseProcess]
) -> None:
    """accepted and written include the children's; the counters still add up."""
    log = configure(log_dir=tmp_path, capture_stdlib=False)
    log.info("the parent's own")
    start(children, logging_children.log_records, address(), "cam1", 250)
    assert join(children[0]) == 0
    assert log.flush(timeout=30)
    stats = log.get_stats()
    assert stats["channel"] == {"connected": 0, "received": 250, "refused": 0}
    assert stats["accepted"] == stats["written"] + stats["errors"] + stats["evicted"] + stats[
        "queue_size"] == 251


# -- how a child ends ------------------------------------------------------------------------------

ENDING_RECORDS = 3_000


@pytest.mark.parametrize(
    ("ending", "exitcode"),
    [
        ("return", 0),  # its target returns: the process ends cleanly
        ("sigterm", -signal.SIGTERM),  # a supervisor's stop
        ("exception", 1),  # an exception ends the process
        ("thread-exception", 0),  # an unhandled exception in one of its threads
    ],
)
def test_a_child_that_ends_loses_nothing_it_accepted(
    tmp_path: Path, children: list[multiprocessing.process.BaseProcess], ending: str,
    exitcode: int,
) -> None:
    """Records still queued or on their way when the child ends are all written by the parent."""
    log = slow_parent(tmp_path)
    child = start(
        children, logging_children.log_then_end, address(), ENDING_RECORDS, ending
    )
    assert join(child) == exitcode
    messages = messages_of(log, "ending")
    records = [m for m in messages if m.startswith("record ")]
    assert records == [f"record {i}" for i in range(ENDING_RECORDS)]
    if ending == "thread-exception":
        assert "unhandled exception in thread grabber" in messages
        text = Path(SlowSink.path).read_text(encoding="utf-8")
        assert "RuntimeError: the grabber failed" in text  # the traceback crossed over as text


def test_a_child_killed_with_sigkill_loses_at_most_its_queue(
    tmp_path: Path, children: list[multiprocessing.process.BaseProcess]
) -> None:
    """What was flushed is all there; what is lost is the tail, no more than a queue and a batch."""
    log = slow_parent(tmp_path)
    queue_size, flushed, more = 1_000, 500, 4_000
    child = start(children, logging_children.log_then_kill, address(), flushed, more, queue_size)
    assert join(child) == -signal.SIGKILL
    numbers = [int(m.split()[1]) for m in messages_of(log, "killed")]
    assert numbers == list(range(len(numbers)))  # a prefix: nothing missing in the middle
    assert len(numbers) >= flushed
    lost = flushed + more - len(numbers)
    assert lost <= queue_size + 1024  # its queue, and the batch its writer held


# -- what crosses over -----------------------------------------------------------------------------

def test_every_kind_of_record_crosses_over_as_it_would_be_written_in_the_child(
    tmp_path: Path,
) -> None:
    """User objects, mappings, extra, exceptions and logging records: rendered the same."""
    log = configure(log_dir=tmp_path, capture_stdlib=False)
    child = subprocess.run(
        child_command("log_every_kind", address()), capture_output=True, text=True,
        timeout=JOIN_TIMEOUT_S,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ["6", "5", "1"]  # accepted, written (acknowledged), errors
    assert child.stderr.count("--- Logging error ---") == 1  # the bad one, reported in the child
    assert "RuntimeError: str broke" in child.stderr
    lines = parsed_lines(log, tracebacks=True)
    assert [(m["level"], m["name"], m["message"]) for m in lines] == [
        ("INFO", "framepipe", "user object shown-in-child"),
        ("INFO", "framepipe", "mapping 640x480"),
        ("WARNING", "framepipe", "with extra"),
        ("ERROR", "framepipe", "processor failed"),
        ("WARNING", "thirdparty", "stdlib record here"),
    ]
    assert {m["stream"] for m in lines} == {"kinds"}
    assert [int(m["seq"]) for m in lines] == [1, 3, 4, 5, 6]  # 2 was lost: a gap
    text = Path(log.get_stats()["log_file"]).read_text(encoding="utf-8")
    assert 'raise ValueError("bad frame 7")\nValueError: bad frame 7\n' in text


def test_connect_works_as_a_pool_initializer(tmp_path: Path) -> None:
    """Pool(initializer=connect, initargs=(address,)): every task's records, per worker stream."""
    log = configure(log_dir=tmp_path, capture_stdlib=False)
    with SPAWN.Pool(2, initializer=connect, initargs=(address(),)) as pool:
        pids = pool.map(logging_children.pool_task, range(4), chunksize=1)
        pool.close()
        pool.join()
    lines = parsed_lines(log)
    assert len(lines) == 400
    assert {int(m["pid"]) for m in lines} == set(pids)
    assert all(m["stream"].startswith("SpawnPoolWorker-") for m in lines)
    assert sorted(m["message"] for m in lines) == sorted(
        f"task {t} record {i}" for t in range(4) for i in range(100)
    )


def test_a_forked_child_connects_and_its_exit_writes_its_records(
    tmp_path: Path, children: list[multiprocessing.process.BaseProcess]
) -> None:
    """A fork copies the parent's logger and channel; the child drops them for a connection."""
    log = configure(log_dir=tmp_path, capture_stdlib=False)
    channel = address()
    child = start(
        children, logging_children.log_records, channel, "forked", 1000,
        context=multiprocessing.get_context("fork"),
    )
    assert join(child) == 0
    log.info("the parent still serves the channel")
    start(children, logging_children.log_records, channel, "spawned", 10)
    assert join(children[1]) == 0
    messages: dict[str, list[str]] = defaultdict(list)
    for match in parsed_lines(log):
        messages[match["stream"]].append(match["message"])
    assert messages["forked"] == [f"record {i}" for i in range(1000)]
    assert messages["spawned"] == [f"record {i}" for i in range(10)]


def test_a_process_forked_from_a_connected_child_logs_through_a_connection_of_its_own(
    tmp_path: Path, children: list[multiprocessing.process.BaseProcess]
) -> None:
    """The fork does not share the child's connection (its bytes would interleave)."""
    log = configure(log_dir=tmp_path, capture_stdlib=False)
    assert join(start(children, logging_children.fork_after_connect, address())) == 0
    matches = parsed_lines(log)
    assert len(matches) == 3  # the fork copied nothing still queued: no record twice
    lines = {m["message"]: (m["pid"], m["seq"]) for m in matches}
    child = lines["before the fork"][0]
    forked = lines["in the forked process"][0]
    assert child != forked
    assert lines == {
        "before the fork": (child, "1"),
        "in the forked process": (forked, "1"),
        "after the fork, the forked process ended with 0": (child, "2"),
    }


# -- the parent's side -----------------------------------------------------------------------------

def test_the_default_format_shows_streams_only_once_the_channel_is_open(tmp_path: Path) -> None:
    """A single process keeps the short format; address() adds [stream pid #seq]."""
    log = configure(log_dir=tmp_path, capture_stdlib=False)
    log.info("alone")
    address()
    log.info("with children")
    assert log.flush(timeout=10)
    first, second = Path(log.get_stats()["log_file"]).read_text(encoding="utf-8").splitlines()
    assert first.endswith(" INFO     framepipe: alone")
    match = LINE.fullmatch(second)
    assert match is not None
    assert (match["stream"], int(match["pid"]), match["message"]) == (
        "MainProcess", os.getpid(), "with children")


def test_address_is_one_string_for_the_life_of_the_logger(tmp_path: Path) -> None:
    """Called again it names the same channel; a new configure() opens a new one."""
    configure(log_dir=tmp_path, capture_stdlib=False)
    first = address()
    assert isinstance(first, str) and address() == first
    configure(log_dir=tmp_path, capture_stdlib=False)
    assert address() != first


def test_address_before_configure_says_to_configure_first() -> None:
    """In a fresh process, and with only a library's implicit logger: no channel to offer."""
    child = subprocess.run(
        child_command("address_before_configure"), capture_output=True, text=True,
        timeout=JOIN_TIMEOUT_S,
    )  # fmt: skip
    expected = (
        "framepipe.logging.address() needs this process's logger: call "
        "framepipe.logging.configure() first"
    )
    assert child.stdout.splitlines() == [f"fresh {expected}", f"implicit {expected}"]


def test_address_after_stop_says_the_logger_was_stopped(tmp_path: Path) -> None:
    """A stopped logger has closed its channel."""
    log = configure(log_dir=tmp_path, capture_stdlib=False)
    channel = address()
    log.stop()
    with pytest.raises(RuntimeError, match="was stopped"):
        address()
    with pytest.raises(ConnectionError, match="cannot reach the parent's log channel"):
        connect(channel)


@pytest.mark.parametrize(
    "bad",
    ["", "logs/app.log", "framepipe-log:/tmp/x", "framepipe-log:/tmp/x#abc", None],
)
def test_connect_refuses_what_address_did_not_return(bad: object) -> None:
    """Anything but an address() string is refused, saying what was expected."""
    with pytest.raises(ValueError, match=r"address must be the string .*address\(\) returned"):
        connect(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"queue_size": 0}, "queue_size must be a positive int, but got 0"),
        ({"overflow": "drop_all"}, "overflow must be one of"),
        ({"level": "LOUD"}, "level must be one of"),
        ({"stream": ""}, "stream must be a non-empty str or None, but got ''"),
    ],
)
def test_connect_checks_its_settings_before_connecting(
    settings: dict[str, object], message: str
) -> None:
    """A bad setting is named, before any connection is tried (this address leads nowhere)."""
    nowhere = "framepipe-log:/nonexistent/channel#" + "00" * 32
    with pytest.raises(ValueError, match=re.escape(message)):
        connect(nowhere, **settings)  # type: ignore[arg-type]


def test_connect_in_the_process_that_owns_the_channel_is_refused(tmp_path: Path) -> None:
    """The parent writes its own records; connecting it to itself would loop."""
    configure(log_dir=tmp_path, capture_stdlib=False)
    with pytest.raises(ValueError, match="for child processes"):
        connect(address())


def test_a_connection_without_the_key_is_turned_away(tmp_path: Path) -> None:
    """The address carries a key; a process without it is not admitted, and the channel goes on."""
    from multiprocessing.connection import Client

    from framepipe.logging._channel import parse_address

    log = configure(log_dir=tmp_path, capture_stdlib=False)
    channel = address()
    path, _ = parse_address(channel)
    with pytest.raises(multiprocessing.AuthenticationError):
        Client(path, family="AF_UNIX", authkey=b"x" * 32)
    with SPAWN.Pool(1, initializer=connect, initargs=(channel,)) as pool:
        pool.map(logging_children.pool_task, [0])
        pool.close()
        pool.join()
    assert len(parsed_lines(log)) == 100


def test_a_child_whose_parent_is_killed_counts_what_it_can_no_longer_send(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The parent dies of SIGKILL: what it acknowledged is written, later records are errors."""
    parent = subprocess.Popen(
        child_command("serve_log_channel", tmp_path), stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        log = connect(parent.stdout.readline().strip(), stream="orphan")
        for i in range(100):
            log.info("before %d", i)
        assert log.flush(timeout=10)
        parent.kill()
        parent.wait(timeout=JOIN_TIMEOUT_S)
        for i in range(100):
            log.info("after %d", i)
        assert not log.flush(timeout=10)  # nobody can confirm these any more
        stats = log.get_stats()
        log.stop()
    finally:
        parent.kill()
        parent.wait(timeout=JOIN_TIMEOUT_S)
        if parent.stdout is not None:
            parent.stdout.close()
    assert (stats["accepted"], stats["written"], stats["errors"]) == (200, 100, 100)
    assert stats["channel"]["connected"] is False
    lines = Path(stats["log_file"]).read_text(encoding="utf-8").splitlines()
    assert [line.rsplit(": ", 1)[1] for line in lines] == [f"before {i}" for i in range(100)]
    assert capfd.readouterr().err.count("the log channel to the parent process is closed") == 1


def test_configure_after_connect_writes_under_the_process_name_again(tmp_path: Path) -> None:
    """A stream name belongs to a connection: a process that configures its own log drops it."""
    from framepipe.logging._records import set_stream

    set_stream("was-connected")  # what connect(address, stream=...) left behind
    log = configure(log_dir=tmp_path, capture_stdlib=False)
    address()
    log.info("mine")
    assert [m["stream"] for m in parsed_lines(log)] == ["MainProcess"]


def test_a_wrong_key_is_a_connection_error_and_the_channel_goes_on(tmp_path: Path) -> None:
    """A key the channel does not know fails the challenge: ``ConnectionError``, as documented
    for a channel that cannot be joined, and the channel still admits the right key."""
    log = configure(log_dir=tmp_path, capture_stdlib=False)
    channel = address()
    wrong = channel[:-64] + ("00" if channel[-64:-62] != "00" else "11") + channel[-62:]
    with pytest.raises(ConnectionError, match="refused this process's key"):
        connect(wrong)
    with SPAWN.Pool(1, initializer=connect, initargs=(channel,)) as pool:
        pool.map(logging_children.pool_task, [0])
        pool.close()
        pool.join()
    assert len(parsed_lines(log)) == 100


class SilentChannel:
    """A real listening socket where the channel's would be: it accepts each connection, sends
    ``says`` (nothing, or a fragment of a challenge) and then keeps quiet until told to go."""

    HOLD_S = 60.0  # it hangs up by itself at the latest after this long

    def __init__(self, directory: Path, says: bytes) -> None:
        import socket
        import threading

        self.path = str(directory / "channel")
        self.says = says
        self.released = threading.Event()
        self.accepted = threading.Event()
        self.hung_up_first = False
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.bind(self.path)
        self._socket.listen(1)
        self._thread = threading.Thread(target=self._serve, name="silent-channel", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"framepipe-log:{self.path}#{'ab' * 32}"

    def _serve(self) -> None:
        sock, _ = self._socket.accept()
        with sock:
            self.accepted.set()
            sock.sendall(self.says)
            self.hung_up_first = not self.released.wait(self.HOLD_S)

    def close(self) -> None:
        self.released.set()
        self._thread.join(timeout=self.HOLD_S)
        self._socket.close()


@pytest.mark.parametrize(
    "says",
    [
        b"",  # accepts and never speaks
        b"\x00\x00\x00\x30#CHAL",  # the start of a challenge, then nothing
    ],
    ids=["silent", "stalls-mid-message"],
)
def test_a_channel_that_accepts_and_stalls_is_a_connection_error_within_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, says: bytes
) -> None:
    """The key's challenge is part of connecting: the whole of it runs under the one handshake
    timeout, so connect() gives up while the other end still holds the connection."""
    from framepipe.logging import _channel

    monkeypatch.setattr(_channel, "HANDSHAKE_TIMEOUT_S", 0.5)
    silent = SilentChannel(tmp_path, says)
    try:
        with pytest.raises(ConnectionError, match=r"did not answer within 0\.5 s"):
            connect(silent.address, stream="impatient")
        assert silent.accepted.is_set()
    finally:
        silent.close()
    assert not silent.hung_up_first, "connect() returned only once the other end hung up"


def test_the_channel_lets_go_of_a_connection_that_never_proves_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that connects to the channel and keeps quiet holds a receiver only for the
    handshake's timeout: then the channel hangs up, and it still admits the right key."""
    import socket

    from framepipe.logging import _channel
    from framepipe.logging._channel import parse_address

    monkeypatch.setattr(_channel, "HANDSHAKE_TIMEOUT_S", 0.5)
    log = configure(log_dir=tmp_path, capture_stdlib=False)
    channel = address()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as quiet:
        quiet.settimeout(SilentChannel.HOLD_S)  # the test's own bound, far past the channel's
        quiet.connect(parse_address(channel)[0])
        received = b""
        while chunk := quiet.recv(1024):  # the challenge, then the end of the connection
            received += chunk
        assert received.startswith(b"\x00\x00\x00")  # a framed challenge came first
    with SPAWN.Pool(1, initializer=connect, initargs=(channel,)) as pool:
        pool.map(logging_children.pool_task, [0])
        pool.close()
        pool.join()
    assert len(parsed_lines(log)) == 100
