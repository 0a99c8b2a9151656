"""The Host-header guard: only IP addresses, localhost and allowed names are answered."""

from __future__ import annotations

import http.client

import pytest

from framepipe.monitor import serve
from framepipe.monitor.hosts import allowed_hosts, host_allowed, host_name


def get(server_address: tuple[str, int], host_header: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(*server_address, timeout=10)
    try:
        connection.putrequest("GET", "/frame.jpg", skip_host=True)
        connection.putheader("Host", host_header)
        connection.endheaders()
        reply = connection.getresponse()
        return reply.status, reply.read()
    finally:
        connection.close()


class TestHostName:
    @pytest.mark.parametrize(
        ("header", "name"),
        [
            ("localhost:5000", "localhost"),
            ("LocalHost", "localhost"),
            ("127.0.0.1:5000", "127.0.0.1"),
            ("[::1]:5000", "::1"),
            ("[::1]", "::1"),
            ("camera.example.:80", "camera.example"),  # a trailing dot is the same name
        ],
    )
    def test_the_port_brackets_and_case_are_left_out(self, header: str, name: str) -> None:
        assert host_name(header) == name


class TestHostAllowed:
    @pytest.mark.parametrize(
        "header", ["localhost:5000", "127.0.0.1:5000", "[::1]:5000", "192.168.1.20:5000", None]
    )
    def test_addresses_and_localhost_are_answered(self, header: str | None) -> None:
        """An IP address cannot be pointed elsewhere by DNS; a request without Host is no
        browser's."""
        assert host_allowed(header, allowed_hosts("127.0.0.1"))

    @pytest.mark.parametrize("header", ["attacker.example:5000", "localhost.attacker.example"])
    def test_any_other_name_is_refused(self, header: str) -> None:
        """A rebound name (a page's own domain resolving to 127.0.0.1) is not answered."""
        assert not host_allowed(header, allowed_hosts("127.0.0.1"))

    def test_the_bound_name_and_the_allowed_ones_are_answered(self) -> None:
        allowed = allowed_hosts("stats.lan", ["Camera.Example"])
        assert host_allowed("stats.lan:5000", allowed)
        assert host_allowed("camera.example:5000", allowed)
        assert not host_allowed("other.example", allowed)


class TestServerGuard:
    def test_a_rebound_name_gets_a_403_that_names_the_flag(self) -> None:
        """The camera's frames are not served to a page under another name."""
        with serve(port=0) as server:
            status, body = get(server.address, "attacker.example:1234")
            assert status == 403
            assert b"--stats-allow-host" in body
            assert get(server.address, f"localhost:{server.address[1]}")[0] != 403

    def test_an_allowed_name_is_answered(self) -> None:
        with serve(port=0, allow_hosts=["camera.example"]) as server:
            assert get(server.address, "camera.example")[0] != 403
            assert get(server.address, "other.example")[0] == 403
