"""Recent: one build shared by every request within its time to live."""

from __future__ import annotations

import threading

import pytest

from framepipe.monitor.recent import Recent


class TestRecent:
    def test_gets_within_the_ttl_share_one_build(self) -> None:
        """A hundred gets in one tenth of a second cost one build; the next tenth, one more."""
        now = [0.0]
        recent = Recent(lambda: now[0], ttl_s=0.1, clock=lambda: now[0])
        assert [recent.get() for _ in range(100)] == [0.0] * 100
        now[0] = 0.1
        assert recent.get() == 0.1
        assert recent.builds == 2

    def test_none_is_a_value_like_any_other(self) -> None:
        """A build that returns None (no logger configured) is cached too."""
        calls = []
        recent = Recent(lambda: calls.append(1), ttl_s=10)
        recent.get()
        recent.get()
        assert len(calls) == 1

    def test_a_failed_build_is_retried_by_the_next_get(self) -> None:
        """An exception reaches the caller and is not cached."""
        results = iter([RuntimeError("once"), "ok"])

        def build() -> str:
            result = next(results)
            if isinstance(result, Exception):
                raise result
            return result

        recent = Recent(build, ttl_s=10)
        with pytest.raises(RuntimeError, match="once"):
            recent.get()
        assert recent.get() == "ok"

    def test_concurrent_gets_build_once(self) -> None:
        """Eight threads asking at the same moment wait for one build instead of each building."""
        started = threading.Barrier(8)
        recent = Recent(lambda: object(), ttl_s=10)
        seen = []

        def ask() -> None:
            started.wait()
            seen.append(recent.get())

        threads = [threading.Thread(target=ask) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert len({id(value) for value in seen}) == 1
        assert recent.builds == 1

    def test_a_negative_ttl_is_refused(self) -> None:
        """The time to live is checked when the cache is made."""
        with pytest.raises(ValueError, match="ttl_s must be 0 or more"):
            Recent(lambda: 1, ttl_s=-1)
