"""Tests for framepipe.pipeline.buffer: the bounded frame buffer and its drop policies."""

from __future__ import annotations

import threading

import pytest

from framepipe.pipeline.buffer import BufferClosed, FrameBuffer


class TestBlockPolicy:
    def test_keeps_every_item_in_order(self):
        """Under ``block`` nothing is dropped and items come out first in, first out."""
        buffer: FrameBuffer[int] = FrameBuffer(capacity=3, policy="block")
        for item in range(3):
            assert buffer.put(item)
        assert [buffer.get(0), buffer.get(0), buffer.get(0)] == [0, 1, 2]
        assert buffer.dropped == 0

    def test_a_full_buffer_makes_the_producer_wait_for_room(self):
        """A put into a full buffer returns only after the consumer takes an item."""
        buffer: FrameBuffer[int] = FrameBuffer(capacity=1, policy="block")
        buffer.put(0)
        done = threading.Event()

        def produce() -> None:
            buffer.put(1)
            done.set()

        producer = threading.Thread(target=produce, daemon=True)
        producer.start()
        assert not done.wait(0.2), "put returned although the buffer was full"
        assert buffer.get(1.0) == 0
        assert done.wait(5.0)
        assert buffer.get(1.0) == 1
        producer.join(5.0)

    def test_cancel_wakes_a_blocked_producer_and_discards_its_item(self):
        """The consumer's cancel() releases a producer stuck on a full buffer: put returns False."""
        buffer: FrameBuffer[int] = FrameBuffer(capacity=1, policy="block")
        buffer.put(0)
        results: list[bool] = []
        producer = threading.Thread(target=lambda: results.append(buffer.put(1)), daemon=True)
        producer.start()
        buffer.cancel()
        producer.join(5.0)
        assert results == [False]
        assert buffer.put(2) is False


class TestLatestPolicy:
    def test_keeps_only_the_newest_and_counts_the_rest(self):
        """Under ``latest`` with capacity 1, ten puts leave the last item and count nine drops."""
        buffer: FrameBuffer[int] = FrameBuffer(capacity=1, policy="latest")
        for item in range(10):
            assert buffer.put(item)
        assert buffer.get(0) == 9
        assert buffer.dropped == 9

    def test_never_blocks_the_producer(self):
        """A producer puts 1000 items into a capacity-2 buffer with no consumer, and returns."""
        buffer: FrameBuffer[int] = FrameBuffer(capacity=2, policy="latest")
        for item in range(1000):
            buffer.put(item)
        assert len(buffer) == 2
        assert buffer.dropped == 998


class TestEndOfStream:
    def test_close_is_seen_after_the_buffered_items(self):
        """Items put before close() are delivered; then get() raises BufferClosed."""
        buffer: FrameBuffer[str] = FrameBuffer(capacity=2)
        buffer.put("a")
        buffer.close()
        assert buffer.get(0) == "a"
        with pytest.raises(BufferClosed):
            buffer.get(0)

    def test_close_wakes_a_waiting_consumer(self):
        """A consumer blocked in get() learns of the end at once instead of waiting it out."""
        buffer: FrameBuffer[int] = FrameBuffer(capacity=1)
        outcome: list[str] = []

        def consume() -> None:
            try:
                buffer.get(30.0)
            except BufferClosed:
                outcome.append("closed")

        consumer = threading.Thread(target=consume, daemon=True)
        consumer.start()
        buffer.close()
        consumer.join(5.0)
        assert outcome == ["closed"]

    def test_get_times_out_with_none_while_open(self):
        """An empty open buffer returns None after the timeout (the loop then checks stop())."""
        buffer: FrameBuffer[int] = FrameBuffer(capacity=1)
        assert buffer.get(0.01) is None


class TestValidation:
    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"capacity": 0}, "capacity must be a positive integer, but got 0"),
            ({"capacity": True}, "capacity must be a positive integer, but got True"),
            ({"policy": "newest"}, "policy must be one of block, latest, but got 'newest'"),
        ],
    )
    def test_rejects_bad_configuration(self, kwargs: dict[str, object], message: str):
        """Bad capacity or policy raise ValueError with expected-versus-actual text."""
        with pytest.raises(ValueError, match=message):
            FrameBuffer(**kwargs)  # type: ignore[arg-type]
