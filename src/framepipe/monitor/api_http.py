"""What the server process checks of an API request before it forwards it: the path, the body.

A body is read only when it is announced by a ``Content-Length`` of at most
:data:`MAX_BODY_BYTES`: a larger one is refused before a byte of it is read, and a chunked one
(no length to check up front) is refused too. What is read must be JSON in UTF-8.
"""

from __future__ import annotations

import json
import re
from email.message import Message
from http import HTTPStatus
from typing import Any, Protocol

__all__ = ["MAX_BODY_BYTES", "Refused", "body_length", "is_api_path", "read_json_body"]

MAX_BODY_BYTES = 64 * 2**10
_DIGITS = re.compile(r"[0-9]+")


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


class Refused(Exception):
    """The request is answered ``status`` with ``{"error": message}`` and goes no further;
    ``close``: its body was not read, so the connection cannot carry another request."""

    def __init__(self, status: HTTPStatus, message: str, *, close: bool) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.close = close


def is_api_path(path: str) -> bool:
    """``/streams``, ``/streams/NAME`` or ``/streams/NAME/restart`` (``path`` URL-decoded)."""
    parts = path.split("/")
    if parts[:2] != ["", "streams"]:
        return False
    if len(parts) == 2:
        return True
    if not parts[2]:
        return False
    return len(parts) == 3 or (len(parts) == 4 and parts[3] == "restart")


def body_length(headers: Message) -> int:
    """The body's length, 0 without one; :class:`Refused` if it is chunked, too long or unclear."""
    if headers.get("Transfer-Encoding") is not None:
        raise Refused(
            HTTPStatus.LENGTH_REQUIRED,
            "send a Content-Length: a chunked body is not taken",
            close=True,
        )
    values = {value.strip() for value in headers.get_all("Content-Length") or ()}
    if not values:
        return 0
    if len(values) > 1 or not _DIGITS.fullmatch(next(iter(values))):
        shown = ", ".join(sorted(values))
        raise Refused(HTTPStatus.BAD_REQUEST, f"bad Content-Length: {shown}", close=True)
    length = int(next(iter(values)))
    if length > MAX_BODY_BYTES:
        raise Refused(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"a body of {length} bytes is over the limit of {MAX_BODY_BYTES} bytes",
            close=True,
        )
    return length


def read_json_body(headers: Message, rfile: Readable) -> Any:
    """The request's body as JSON, None when it has none; :class:`Refused` when it is not
    taken, ``ConnectionError`` when the client sent less than it announced."""
    length = body_length(headers)
    if length == 0:
        return None
    data = rfile.read(length)
    if len(data) < length:
        raise ConnectionError(f"the client sent {len(data)} of {length} body bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(
            HTTPStatus.BAD_REQUEST, f"the body is not UTF-8: {exc.reason} at byte {exc.start}",
            close=False,
        ) from None  # fmt: skip
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError as exc:  # json.JSONDecodeError too
        message = " ".join(str(exc).split())
        raise Refused(
            HTTPStatus.BAD_REQUEST, f"the body is not JSON: {message}", close=False
        ) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
