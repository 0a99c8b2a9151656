"""The log channel: records of other processes reach this process's one writer.

``ChannelServer`` listens on a Unix socket in a private directory (mode 0700: no other user can
even connect) and admits a connection only after ``multiprocessing``'s HMAC challenge with a
random key, which the address string carries. Each connected process gets a receiver thread: it
takes a batch of entries, puts it into this process's queue, waiting for room (a slow writer here
holds the sender back, whose own bounded queue then applies its overflow policy), and
acknowledges it. A sender keeps at most ``MAX_IN_FLIGHT`` batches unacknowledged.

Messages, one pickled tuple per ``Connection.send``:

- sender to here: ``("hello", PROTOCOL, stream, pid, process_name)``, ``("batch", entries)``,
  ``("flush",)``, ``("bye",)``;
- here to sender: ``("settings", {...})``, ``("ack", accepted, refused)``, ``("flushed", ok)``,
  ``("bye", ok)``. A flush or bye is answered once this process has written everything queued.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing import AuthenticationError
from multiprocessing.connection import (
    Connection,
    answer_challenge,
    deliver_challenge,
)
from multiprocessing.reduction import ForkingPickler
from typing import Any, Protocol, cast

from framepipe.logging._notes import stderr_note
from framepipe.typing import ChannelStats

__all__ = [
    "CHANNEL_FORMAT",
    "MAX_IN_FLIGHT",
    "PROTOCOL",
    "ChannelServer",
    "open_channel",
    "parse_address",
]

# The default file format once records of several processes share the file: which stream and
# process each line comes from, and its number there (a gap is a lost record).
CHANNEL_FORMAT = (
    "%(asctime)s.%(msecs)03d %(levelname)-8s [%(stream)s %(process)d #%(seq)d] "
    "%(name)s: %(message)s"
)
PROTOCOL = 1
SCHEME = "framepipe-log:"
# Batches a sender may have sent that this process has not yet acknowledged.
MAX_IN_FLIGHT = 4
# How long a receiver sleeps in poll() before it looks whether the channel is closing.
RECV_POLL_S = 0.1
# How long a connecting process may take to connect, prove its key, introduce itself and get
# the settings back: one deadline for all of it.
HANDSHAKE_TIMEOUT_S = 10.0
# How long a flush or bye asked for by a sender waits for this process's writer.
FLUSH_TIMEOUT_S = 10.0
# How long close() takes in what senders have already sent before refusing the rest.
CLOSE_DRAIN_S = 2.0
_KEY_BYTES = 32


class _Target(Protocol):
    """Where received batches go: the logger's core (``Core``)."""

    def put_entries(self, entries: Sequence[tuple[Any, ...]]) -> tuple[int, int]: ...

    def flush(self, timeout: float = ...) -> bool: ...


def format_address(path: str, key: bytes) -> str:
    return f"{SCHEME}{path}#{key.hex()}"


def parse_address(address: object) -> tuple[str, bytes]:
    """The socket path and key in an ``address()`` string; ValueError for anything else."""
    if isinstance(address, str) and address.startswith(SCHEME) and "#" in address:
        path, _, key = address[len(SCHEME):].rpartition("#")
        try:
            raw = bytes.fromhex(key)
        except ValueError:
            raw = b""
        if path and len(raw) == _KEY_BYTES:
            return path, raw
    shown = address if not isinstance(address, str) else address[:len(SCHEME) + 40]
    msg = (
        "address must be the string framepipe.logging.address() returned in the parent "
        f"process, but got {shown!r}"
    )
    raise ValueError(msg)


def open_channel(
    address: str, stream: str, timeout: float | None = None
) -> tuple[Connection, dict[str, Any]]:
    """Connect to the channel at ``address``, prove the key, introduce this process; the
    connection and the settings the parent's logger runs with.

    All of it -- the socket's connect, the key's challenge both ways, the hello and the settings
    -- runs under one deadline, ``timeout`` seconds (``HANDSHAKE_TIMEOUT_S`` by default): a
    socket that accepts and never speaks cannot hold a process at its start. ``ValueError`` for a
    bad address; ``ConnectionError`` when the parent cannot be reached, refuses the key or does
    not answer in time.
    """
    path, key = parse_address(address)
    limit = HANDSHAKE_TIMEOUT_S if timeout is None else timeout
    line = _Handshake(
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM), time.monotonic() + limit
    )
    try:
        line.connect(path)
        # As Client() does: answer the channel's challenge, then challenge it. The functions
        # use only send_bytes and recv_bytes, which the handshake speaks.
        answer_challenge(cast(Connection, line), key)
        deliver_challenge(cast(Connection, line), key)
        line.send(("hello", PROTOCOL, stream, os.getpid(), _process_name()))
        reply = line.recv()
    except TimeoutError:
        line.close()
        raise ConnectionError(
            f"the parent's log channel did not answer within {limit:g} s"
        ) from None
    except AuthenticationError:
        line.close()
        msg = (
            "the parent's log channel refused this process's key; the address must be the one "
            "address() returned for the running logger"
        )
        raise ConnectionError(msg) from None
    except (OSError, EOFError) as exc:
        line.close()
        msg = (
            f"cannot reach the parent's log channel ({_reason(exc)}); its logger must be "
            "running (address() is valid until the parent's logger stops)"
        )
        raise ConnectionError(msg) from None
    except Exception as exc:  # not a framepipe channel speaking: a garbled challenge or reply
        line.close()
        raise ConnectionError(
            f"unexpected answer from the parent's log channel ({type(exc).__name__})"
        ) from None
    if not (isinstance(reply, tuple) and reply[:1] == ("settings",)):
        line.close()
        raise ConnectionError(f"unexpected answer from the parent's log channel: {reply!r}")
    return line.connection(), reply[1]


def _reason(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "it closed the connection"
    strerror = exc.strerror if isinstance(exc, OSError) else None
    return strerror or str(exc) or type(exc).__name__


class _Handshake:
    """A connection's first messages, each read and write bounded by one deadline.

    ``multiprocessing``'s ``Client()`` blocks in the key's challenge for as long as the other
    end keeps quiet. This speaks the same framing (a signed 4-byte big-endian length, then the
    bytes; ``-1`` and an 8-byte length for a long one) over a socket whose every call gets the
    time left, so the stdlib's own challenge functions run on it unchanged; once the handshake is
    done, the socket becomes an ordinary ``Connection``. Both ends use it: a connecting process
    that never proves its key holds the channel's receiver no longer than the deadline either.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._deadline = deadline
        self._socket = sock

    def connect(self, path: str) -> None:
        self._arm()
        self._socket.connect(path)

    def send_bytes(self, buf: bytes) -> None:
        size = len(buf)
        header = struct.pack("!i", size) if size <= 0x7FFFFFFF else struct.pack("!iQ", -1, size)
        self._arm()
        self._socket.sendall(header + buf)

    def recv_bytes(self, maxlength: int | None = None) -> bytes:
        (size,) = struct.unpack("!i", self._read(4))
        if size == -1:
            (size,) = struct.unpack("!Q", self._read(8))
        if maxlength is not None and size > maxlength:
            raise OSError("bad message length")
        return self._read(size)

    def send(self, message: object) -> None:
        self.send_bytes(bytes(ForkingPickler.dumps(message)))

    def recv(self) -> Any:
        return ForkingPickler.loads(self.recv_bytes())

    def connection(self) -> Connection:
        self._socket.settimeout(None)  # blocking again, as Connection expects
        return Connection(self._socket.detach())

    def close(self) -> None:
        self._socket.close()

    def _read(self, size: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < size:
            self._arm()
            chunk = self._socket.recv(size - len(chunks))
            if not chunk:
                raise EOFError
            chunks += chunk
        return bytes(chunks)

    def _arm(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self._socket.settimeout(left)


def _process_name() -> str:
    from framepipe.logging._records import process_name

    return process_name()


class ChannelServer:
    """This process's end of the channel: a listening socket and one receiver per sender."""

    def __init__(self, target: _Target, settings: Callable[[], dict[str, Any]]) -> None:
        self._target = target
        self._settings = settings  # what a sender's logger runs with, asked at each connection
        self._key = secrets.token_bytes(_KEY_BYTES)
        self._dir = _private_dir()
        path = os.path.join(self._dir, "channel")
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._socket.bind(path)
            self._socket.listen(64)
        except OSError:
            self._socket.close()
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        self._socket.settimeout(RECV_POLL_S)  # accept() looks at the closing flag this often
        self.address = format_address(path, self._key)
        self._lock = threading.Lock()
        self._closing = False
        self._drain_until = 0.0
        self._receivers: list[threading.Thread] = []
        self._connections: set[Connection] = set()
        self._handshakes: set[socket.socket] = set()  # accepted, not yet introduced
        self._connected = 0
        self._received = 0
        self._refused = 0
        self._noted_failure = False
        self._accepter = threading.Thread(
            target=self._accept, name="framepipe-log-channel", daemon=True
        )
        self._accepter.start()

    # -- accepting -------------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closing:
            try:
                sock, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            thread = threading.Thread(
                target=self._serve, args=(sock,), name="framepipe-log-receiver", daemon=True
            )
            with self._lock:
                if self.closing:  # close() came meanwhile: it joins only the receivers it saw
                    sock.close()
                    return
                self._handshakes.add(sock)
                self._receivers = [t for t in self._receivers if t.is_alive()]
                self._receivers.append(thread)
            thread.start()

    # -- one sender ------------------------------------------------------------------------------

    def _serve(self, sock: socket.socket) -> None:
        introduced = False
        conn: Connection | None = None
        try:
            # As Listener.accept() does, all of it within the one handshake deadline.
            line = _Handshake(sock, time.monotonic() + HANDSHAKE_TIMEOUT_S)
            deliver_challenge(cast(Connection, line), self._key)
            answer_challenge(cast(Connection, line), self._key)
            hello = line.recv()
            if not (isinstance(hello, tuple) and hello[:2] == ("hello", PROTOCOL)):
                return
            line.send(("settings", self._settings()))
            with self._lock:
                self._handshakes.discard(sock)
                conn = line.connection()
                self._connections.add(conn)
                self._connected += 1
            introduced = True
            self._receive(conn)
        except (EOFError, OSError):
            pass  # the sender is gone, or kept quiet; everything it sent before is in the queue
        except Exception as exc:  # a failed challenge, or a bug: this sender only
            self._note_failure(exc)
        finally:
            with self._lock:
                self._handshakes.discard(sock)
                if conn is not None:
                    self._connections.discard(conn)
                self._connected -= introduced
            if conn is not None:
                conn.close()
            else:
                sock.close()

    def _receive(self, conn: Connection) -> None:
        target = self._target
        while True:
            if not conn.poll(RECV_POLL_S):
                if self._closing:
                    return
                continue
            if self._closing and time.monotonic() > self._drain_until:
                return
            message = conn.recv()
            kind = message[0]
            if kind == "batch":
                accepted, refused = target.put_entries(message[1])
                with self._lock:
                    self._received += accepted
                    self._refused += refused
                conn.send(("ack", accepted, refused))
            elif kind == "flush":
                conn.send(("flushed", target.flush(FLUSH_TIMEOUT_S)))
            elif kind == "bye":
                conn.send(("bye", target.flush(FLUSH_TIMEOUT_S)))
                return

    def _note_failure(self, exc: Exception) -> None:
        if not self._noted_failure:
            self._noted_failure = True
            stderr_note(
                f"a connection to the log channel failed ({type(exc).__name__}: {exc}); "
                "the channel goes on"
            )

    # -- state -----------------------------------------------------------------------------------

    @property
    def closing(self) -> bool:
        return self._closing

    def stats(self) -> ChannelStats:
        """``connected``: senders now; ``received``/``refused``: their records taken or not."""
        with self._lock:
            return ChannelStats(
                connected=self._connected, received=self._received, refused=self._refused,
            )

    def close(self, timeout: float = CLOSE_DRAIN_S) -> None:
        """Stop accepting; take in what senders have sent (up to ``timeout``); then let go.

        Idempotent. Senders still connected find the channel closed: their later records are
        counted as errors on their side.
        """
        with self._lock:
            if self._closing:
                return
            self._drain_until = time.monotonic() + timeout
            self._closing = True
            receivers = list(self._receivers)
        _shutdown(self._socket)
        self._accepter.join(timeout=RECV_POLL_S * 10)
        for thread in receivers:
            thread.join(timeout=max(0.0, self._drain_until - time.monotonic()) + RECV_POLL_S * 2)
        shutil.rmtree(self._dir, ignore_errors=True)

    def forget_after_fork(self) -> None:
        """In a forked child: this is the parent's channel; close the copies, remove nothing."""
        self._closing = True
        self._lock = threading.Lock()
        self._socket.close()
        for conn in list(self._connections):
            try:
                conn.close()
            except OSError:
                pass
        self._connections.clear()
        for sock in list(self._handshakes):
            sock.close()
        self._handshakes.clear()


def _private_dir() -> str:
    """A new directory only this user can enter, short enough for a socket path."""
    try:
        path = tempfile.mkdtemp(prefix="framepipe-log-")
    except OSError:
        path = ""
    if not path or len(path) > 90:  # sun_path holds about 100 bytes
        if path:
            os.rmdir(path)
        path = tempfile.mkdtemp(prefix="framepipe-log-", dir="/tmp")
    return path


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept() at once on Linux
    except OSError:
        pass
    sock.close()
