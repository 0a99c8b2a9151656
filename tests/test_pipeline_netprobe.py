"""why_stream_failed: the real cause of a stream that did not open, asked of the network."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from framepipe.pipeline.netprobe import why_stream_failed
from framepipe.pipeline.sources import SourceError, open_source
from helpers import refused_port


@pytest.fixture
def chatty_server() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that answers every connection with text that is not video."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                try:
                    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        server.close()


class TestWhyStreamFailed:
    def test_a_closed_port_is_a_refused_connection(self) -> None:
        """Nothing listening: the reason says the connection was refused, and where."""
        with refused_port() as port:
            assert why_stream_failed(f"tcp://127.0.0.1:{port}", 10.0, 0.01) == (
                f"connection refused by 127.0.0.1:{port}"
            )

    def test_a_url_without_a_port_uses_its_schemes_port(self) -> None:
        """rtsp:// with no port is probed on 554."""
        assert why_stream_failed("rtsp://127.0.0.1/live", 10.0, 0.01).endswith("127.0.0.1:554")

    def test_a_silent_server_that_used_the_whole_timeout_is_no_video_in_time(self) -> None:
        """A server that accepts but stays silent until the timeout: no video within N s."""
        with socket.create_server(("127.0.0.1", 0)) as server:
            url = f"tcp://127.0.0.1:{server.getsockname()[1]}"
            assert why_stream_failed(url, 2.0, 2.1) == "connected, but no video arrived within 2 s"

    def test_a_quick_failure_after_connecting_is_not_a_timeout(self) -> None:
        """Connected and failed early: the server sent something that is not video."""
        with socket.create_server(("127.0.0.1", 0)) as server:
            url = f"tcp://127.0.0.1:{server.getsockname()[1]}"
            assert why_stream_failed(url, 10.0, 0.3) == (
                "connected, but the server sent no decodable video"
            )

    def test_udp_cannot_be_probed_and_says_only_what_is_known(self) -> None:
        """No connection to try over UDP: a quick failure is 'no decodable video'."""
        assert why_stream_failed("udp://127.0.0.1:5000", 10.0, 0.1) == "no decodable video"


class TestOpenSourceReason:
    def test_a_refused_stream_says_refused_not_a_timeout(self) -> None:
        """open_source on a closed port fails at once and names the refusal."""
        with (
            refused_port() as port,
            pytest.raises(SourceError, match="connection refused") as caught,
        ):
            open_source(f"tcp://127.0.0.1:{port}", open_timeout_s=5.0)
        assert "within" not in str(caught.value)

    def test_a_server_answering_with_text_is_not_a_video_stream(self, chatty_server: int) -> None:
        """An HTTP server sending text: connected, but no decodable video."""
        url = f"http://127.0.0.1:{chatty_server}/stream.ts"
        with pytest.raises(SourceError, match="connected, but"):
            open_source(url, open_timeout_s=3.0)
