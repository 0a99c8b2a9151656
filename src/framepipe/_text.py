"""Small text helpers for the one-line messages users see."""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["HIDDEN", "hide_secrets", "one_line", "plural"]


def one_line(exc: BaseException) -> str:
    """``"TypeName: message"`` with the message's whitespace (newlines too) collapsed."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def plural(count: int, noun: str, plural_noun: str | None = None, *, width: int = 0) -> str:
    """``"1 frame"``, ``"0 frames"``, ``"2 frames"``: the count and the noun, singular for 1.

    ``plural_noun`` when adding an ``s`` is wrong; ``width`` right-aligns the count, for columns.
    """
    word = noun if count == 1 else (plural_noun if plural_noun is not None else f"{noun}s")
    return f"{count:>{width}} {word}"


HIDDEN = "***"
# A URL: a scheme, "://" and what follows up to whitespace or the next URL's scheme (a URL may
# quote another in its path or query; each has its own password).
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S*?(?=\s|[A-Za-z][A-Za-z0-9+.-]*://|$)")
# Query parameters whose value is a secret: a name that ends with one of these, any case
# (``password``, ``access_token``, ``api-key``, ``X-Amz-Signature``, ``sig``).
_SECRET_PARAMS = (
    "password", "passwd", "pass", "pwd", "pw", "secret", "token", "key", "auth", "signature",
    "credential", "credentials", "sig",
)  # fmt: skip


def hide_secrets(text: str) -> str:
    """``text`` as it may be shown: in every URL in it, the password of ``user:password@``
    and the value of each query parameter named for a secret (``?password=``, ``&token=``,
    ``api_key=``, ...) replaced by ``***``; the rest, the user too, as it is.

    The URL's authority ends at the first ``/``, ``?`` or ``#``, and its user info at the last
    ``@`` before that, as ffmpeg and ``urllib`` read it, so a password with ``@`` in it is
    hidden whole; a password with ``/``, ``?``, ``#`` or whitespace must be percent-encoded
    (it does not open otherwise either). Text without ``://`` is returned unchanged, and
    hiding again changes nothing.
    """
    if "://" not in text:
        return text
    return _URL.sub(_hidden_url, text)


def _hidden_url(match: re.Match[str]) -> str:
    url = match.group(0)
    start = url.index("://") + 3
    rest = url[start:]
    end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    userinfo, at, host = authority.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if at and colon and password:
        authority = f"{user}:{HIDDEN}@{host}"
    path, question, query = tail.partition("?")
    if question:
        query, hash_, fragment = query.partition("#")
        query = _hidden_query(query) + hash_ + fragment
    return f"{url[:start]}{authority}{path}{question}{query}"


def _hidden_query(query: str) -> str:
    """``a=1&token=x`` -> ``a=1&token=***``: each secret parameter's value hidden."""
    params = re.split(r"([&;])", query)  # the separators kept, so the query reads as it did
    for i in range(0, len(params), 2):
        name, equals, value = params[i].partition("=")
        if equals and value and unquote(name).lower().endswith(_SECRET_PARAMS):
            params[i] = f"{name}={HIDDEN}"
    return "".join(params)
