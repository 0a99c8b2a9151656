"""Tests for framepipe._text: the words of the one-line messages users see."""

from __future__ import annotations

import string

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from framepipe._text import HIDDEN, hide_secrets, plural


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "0 frames"), (1, "1 frame"), (2, "2 frames"), (-1, "-1 frames"), (1000, "1000 frames")],
)
def test_one_is_singular_every_other_count_plural(count: int, expected: str) -> None:
    assert plural(count, "frame") == expected


def test_an_irregular_plural_is_given() -> None:
    assert plural(1, "entry", "entries") == "1 entry"
    assert plural(3, "entry", "entries") == "3 entries"


def test_the_count_can_be_right_aligned() -> None:
    """A column of counts: the number padded to ``width``, the word after it."""
    assert plural(1, "frame", width=4) == "   1 frame"
    assert plural(12, "frame", width=4) == "  12 frames"


# -- hide_secrets: a URL's password is never shown ---------------------------------------------

_UNRESERVED = string.ascii_letters + string.digits + "-._~"
_SUB_DELIMS = "!$&'()*+,;="
_PCT = st.sampled_from(["%40", "%2F", "%3A", "%20", "%23", "%3F", "%25"])
_USERS = st.lists(st.sampled_from(_UNRESERVED + _SUB_DELIMS) | _PCT, max_size=8).map("".join)
# What a password may hold in a URL (RFC 3986 user info) and an ``@``, which ffmpeg takes too.
_PASSWORDS = st.lists(
    st.sampled_from(_UNRESERVED + _SUB_DELIMS + ":@") | _PCT, min_size=1, max_size=16
).map("".join)
_HOSTS = st.sampled_from(["10.0.0.5", "camera.local", "127.0.0.1:554", "[::1]:8554", "h"])
_PATHS = st.lists(st.sampled_from(_UNRESERVED + "/:@!$'()*+,="), max_size=12).map(
    lambda chars: "/" + "".join(chars) if chars else ""
)
_SCHEMES = st.sampled_from(["rtsp", "rtsps", "http", "https", "tcp", "udp", "rtmp", "RTSP"])


@settings(max_examples=300, deadline=None)
@given(_SCHEMES, _USERS, _PASSWORDS, _HOSTS, _PATHS)
def test_a_urls_password_is_hidden_and_the_rest_kept(
    scheme: str, user: str, password: str, host: str, path: str
) -> None:
    """``user:password@`` -> ``user:***@``, alone or inside a message, whatever the password
    holds (an ``@``, a ``:``, percent-escapes): no part of it is left."""
    url = f"{scheme}://{user}:{password}@{host}{path}"
    expected = f"{scheme}://{user}:{HIDDEN}@{host}{path}"
    assert hide_secrets(url) == expected
    message = f"stream {url} is unreachable; source={url}, again"
    expected_message = f"stream {expected} is unreachable; source={expected}, again"
    assert hide_secrets(message) == expected_message
    assume(password not in expected_message)  # "a" is a password, and in "unreachable" too
    assert password not in hide_secrets(message)


@given(st.text())
def test_text_without_a_url_is_unchanged(text: str) -> None:
    assume("://" not in text)
    assert hide_secrets(text) == text


_PIECES = ["rtsp://u:p@h/x", "a=b", " ", "tcp://h:1", "?token=t", "http://v:w@k?key=s", "@", ":"]


@given(st.lists(st.sampled_from([*_PIECES, "/", "x://", "&"])).map("".join))
def test_hiding_twice_hides_nothing_more(text: str) -> None:
    once = hide_secrets(text)
    assert hide_secrets(once) == once


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("rtsp://admin@10.0.0.5/stream1", "rtsp://admin@10.0.0.5/stream1"),  # no password
        ("rtsp://admin:@10.0.0.5/s", "rtsp://admin:@10.0.0.5/s"),  # an empty one
        ("rtsp://:pw@10.0.0.5/s", "rtsp://:***@10.0.0.5/s"),
        ("rtsp://10.0.0.5:554/s", "rtsp://10.0.0.5:554/s"),  # a port is no password
        ("http://h/x?a=b@c", "http://h/x?a=b@c"),  # an @ after the host
        ("samples/sample.mp4", "samples/sample.mp4"),
        ("0", "0"),
        # Query parameters named for a secret, any case, whatever precedes the name.
        ("rtsp://h/s?password=pw&channel=1", "rtsp://h/s?password=***&channel=1"),
        ("https://h/live?TOKEN=t;api_key=k#part", "https://h/live?TOKEN=***;api_key=***#part"),
        ("http://h/v?access_token=t&Sig=s", "http://h/v?access_token=***&Sig=***"),
        ("http://h/v?X-Amz-Signature=s", "http://h/v?X-Amz-Signature=***"),
        ("http://h/v?pass%77ord=pw", "http://h/v?pass%77ord=***"),  # an escaped name
        ("http://h/v?token=&keyframe=1", "http://h/v?token=&keyframe=1"),  # nothing to hide
        # Two URLs in one word, or one quoting another: each has its password hidden.
        ("a=rtsp://u:p@h,b=rtsp://v:q@k", "a=rtsp://u:***@h,b=rtsp://v:***@k"),
        ("http://proxy/?url=rtsp://u:p@h/x", "http://proxy/?url=rtsp://u:***@h/x"),
        ("'rtsp://u:p@h'", "'rtsp://u:***@h'"),  # quoted, as repr() writes it
    ],
)
def test_what_is_hidden_and_what_is_not(text: str, shown: str) -> None:
    assert hide_secrets(text) == shown
