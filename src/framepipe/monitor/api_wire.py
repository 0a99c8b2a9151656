"""API requests and answers between the server process and the watched process.

A request goes up as one line on the server process's stdout, ``api <json>`` (JSON escapes
newlines, so a line is a request); its answer comes back on stdin as an
:class:`~framepipe.monitor.reading.ApiReply` beside the readings, its body JSON already, so the
server process never holds an object of the handler's.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from typing import Any

from framepipe.monitor.api import ApiAnswer, ApiRequest
from framepipe.monitor.reading import ApiReply

__all__ = [
    "LINE_KIND",
    "MAX_ANSWER_BYTES",
    "decode_request",
    "encode_request",
    "error_reply",
    "reply",
]

LINE_KIND = "api"
MAX_ANSWER_BYTES = 16 * 2**20  # well under the pipe's message limit, which ends the server
# Set by the server process itself; an answer's own would contradict them.
_RESERVED_HEADERS = frozenset({"content-type", "content-length", "transfer-encoding", "connection"})
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # a header name (RFC 9110)
_NO_BODY = frozenset({HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED})


def encode_request(request_id: str, request: ApiRequest) -> bytes:
    """The line that carries ``request`` to the watched process."""
    document = {
        "id": request_id,
        "method": request.method,
        "path": request.path,
        "body": request.body,
        "authorization": request.authorization,
        "client": request.client,
    }
    return f"{LINE_KIND} {json.dumps(document, separators=(',', ':'))}\n".encode()


def decode_request(text: str) -> tuple[str, ApiRequest]:
    """``(request id, request)`` from a line's text after ``api ``; ValueError if malformed."""
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError(f"an API request line holds an object, not {type(document).__name__}")
    try:
        request_id, method, path = document["id"], document["method"], document["path"]
        authorization, client = document["authorization"], document["client"]
        body = document["body"]
    except KeyError as exc:
        raise ValueError(f"an API request line without {exc}") from None
    if not all(isinstance(value, str) for value in (request_id, method, path, client)):
        raise ValueError("an API request line's id, method, path and client are strings")
    if authorization is not None and not isinstance(authorization, str):
        raise ValueError("an API request line's authorization is a string or null")
    return request_id, ApiRequest(method, path, body, authorization, client)


def reply(request_id: str, answer: ApiAnswer) -> ApiReply:
    """``answer`` for the wire; ValueError or TypeError says what is wrong with it."""
    if not isinstance(answer, ApiAnswer):
        raise TypeError(f"the API handler returned {type(answer).__name__}, not an ApiAnswer")
    status = answer.status
    if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
        raise ValueError(f"an API answer's status is an integer from 200 to 599, not {status!r}")
    headers = _checked_headers(answer.headers)
    if status in _NO_BODY:
        return ApiReply(request_id, status, None, headers)  # a document here is dropped
    body = json.dumps(answer.document, allow_nan=False).encode()
    if len(body) > MAX_ANSWER_BYTES:
        raise ValueError(f"an API answer of {len(body)} bytes is over {MAX_ANSWER_BYTES} bytes")
    return ApiReply(request_id, status, body, headers)


def error_reply(
    request_id: str, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()
) -> ApiReply:
    """``{"error": message}`` with ``status``: an answer the transport gives itself."""
    return ApiReply(request_id, status, json.dumps({"error": message}).encode(), headers)


def _checked_headers(headers: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(headers, tuple | list):
        raise TypeError(f"an API answer's headers are (name, value) pairs, not {headers!r}")
    checked: list[tuple[str, str]] = []
    for pair in headers:
        if not (isinstance(pair, tuple | list) and len(pair) == 2):
            raise TypeError(f"an API answer's header is a (name, value) pair, not {pair!r}")
        name, value = pair
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ValueError(f"an API answer's header name {name!r} is not a token")
        if name.lower() in _RESERVED_HEADERS:
            raise ValueError(f"an API answer may not set the header {name}")
        if not isinstance(value, str) or any(c in value for c in "\r\n\0") or not _latin1(value):
            raise ValueError(f"an API answer's header {name} has the value {value!r}")
        checked.append((name, value))
    return tuple(checked)


def _latin1(value: str) -> bool:
    """Whether ``value`` can go out as a header (HTTP/1.1 headers are bytes, latin-1 here)."""
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True
