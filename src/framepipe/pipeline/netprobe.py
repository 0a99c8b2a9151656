"""Why a stream did not open: ask the network, since OpenCV only says that it failed.

A refused connection fails in milliseconds, a silent server after the whole timeout, and a server
that answers with something that is not video somewhere in between; each deserves its own words.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

__all__ = ["why_stream_failed"]

# Ports a URL implies when it names none.
_DEFAULT_PORTS = {"http": 80, "https": 443, "rtsp": 554, "rtmp": 1935}
_PROBE_TIMEOUT_S = 2.0


def why_stream_failed(url: str, open_timeout_s: float, elapsed_s: float) -> str:
    """A short reason for a failed open of ``url`` that took ``elapsed_s`` seconds."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:  # a port that is not a number
        return "malformed port in the URL"
    if scheme == "udp" or parts.hostname is None or port is None:
        return _timed_out(open_timeout_s, elapsed_s)
    try:
        with socket.create_connection((parts.hostname, port), timeout=_PROBE_TIMEOUT_S):
            pass
    except ConnectionRefusedError:
        return f"connection refused by {parts.hostname}:{port}"
    except socket.gaierror:
        return f"host not found: {parts.hostname}"
    except TimeoutError:
        return f"no connection within {open_timeout_s:g} s"
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    if elapsed_s >= open_timeout_s * 0.9:
        return f"connected, but no video arrived within {open_timeout_s:g} s"
    return "connected, but the server sent no decodable video"


def _timed_out(open_timeout_s: float, elapsed_s: float) -> str:
    if elapsed_s >= open_timeout_s * 0.9:
        return f"no video within {open_timeout_s:g} s"
    return "no decodable video"
