"""The async and sync engines: what callers capture, what the writer writes, the counters."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from framepipe.logging import configure
from helpers import wait_until
from logging_helpers import GateHandler, ListHandler, log_lines

MODES = ["async", "sync"]


@pytest.mark.parametrize("mode", MODES)
class TestWhatIsWritten:
    def test_records_reach_the_file_in_order(self, tmp_path, mode: str) -> None:
        """Every accepted record is written, in call order, with level and logger name."""
        log = configure(log_dir=tmp_path, mode=mode)
        for i in range(500):
            log.info("frame %d took %.1f ms", i, 2.5)
        lines = log_lines(log)
        assert len(lines) == 500
        assert lines[0].endswith("INFO     framepipe: frame 0 took 2.5 ms")
        assert lines[-1].endswith("frame 499 took 2.5 ms")

    def test_mutable_arguments_show_their_value_at_call_time(self, tmp_path, mode: str) -> None:
        """A list or dict changed right after the call is written as it was during the call."""
        handler = GateHandler()
        log = configure(handlers=[handler], mode=mode)
        values, mapping = [1, 2], {"k": "before"}
        if mode == "sync":
            handler.gate.set()  # the sync caller writes itself: it must not wait
        log.info("values %s", values)
        log.info("mapping %(k)s", mapping)
        values.append(3)
        mapping["k"] = "after"
        handler.gate.set()
        assert log.flush(timeout=10)
        assert handler.lines == ["INFO framepipe: values [1, 2]", "INFO framepipe: mapping before"]

    def test_exception_tracebacks_are_captured(self, tmp_path, mode: str) -> None:
        """log.exception() writes the traceback of the exception being handled."""
        log = configure(log_dir=tmp_path, mode=mode)
        try:
            raise ValueError("bad frame")
        except ValueError:
            log.exception("processing failed")
        text = "\n".join(log_lines(log))
        assert "ERROR    framepipe: processing failed" in text
        assert "Traceback (most recent call last)" in text
        assert "ValueError: bad frame" in text

    def test_caller_fields_are_right_when_the_format_uses_them(self, mode: str) -> None:
        """%(filename)s:%(lineno)d:%(funcName)s point at the line that logged."""
        handler = ListHandler("%(filename)s:%(lineno)d:%(funcName)s %(message)s")
        log = configure(handlers=[handler], mode=mode)
        line = sys._getframe().f_lineno + 1
        log.warning("here")
        assert log.flush(timeout=10)
        name = "test_caller_fields_are_right_when_the_format_uses_them"
        assert handler.lines == [f"test_logging_core.py:{line}:{name} here"]

    def test_thread_names_are_written_when_the_format_uses_them(self, mode: str) -> None:
        """%(threadName)s is the name of the calling thread, even after it ended."""
        handler = ListHandler("%(threadName)s %(message)s")
        log = configure(handlers=[handler], mode=mode)
        worker = threading.Thread(target=log.info, args=("from worker",), name="grabber")
        worker.start()
        worker.join(timeout=10)
        assert log.flush(timeout=10)
        assert handler.lines == ["grabber from worker"]

    def test_extra_fields_reach_the_record(self, mode: str) -> None:
        """extra={...} adds attributes to the record, as with logging.Logger."""
        handler = ListHandler("%(camera)s %(message)s")
        log = configure(handlers=[handler], mode=mode)
        log.info("opened", extra={"camera": "cam0"})
        assert log.flush(timeout=10)
        assert handler.lines == ["cam0 opened"]


class TestAsyncCallers:
    def test_caller_fields_cost_nothing_when_unused(self) -> None:
        """With a format that shows no caller fields, no caller frame is looked up."""
        handler = ListHandler()
        log = configure(handlers=[handler])
        log.info("x")
        assert log.flush(timeout=10)
        assert handler.records[0].lineno == 0
        assert handler.records[0].funcName == ""

    def test_a_full_queue_never_raises_and_prints_nothing(self, capfd) -> None:
        """Overflowing the queue drops records silently for the caller, counting each drop."""
        handler = GateHandler()
        log = configure(handlers=[handler], queue_size=100, overflow="drop_newest")
        for i in range(1_000):
            log.info("record %d", i)
        stats = log.get_stats()
        handler.gate.set()
        assert log.flush(timeout=10)
        assert capfd.readouterr().err == ""
        assert stats["dropped"] > 800
        assert stats["accepted"] + stats["dropped"] == 1_000

    def test_drops_are_reported_in_the_log_once_room_is_back(self) -> None:
        """The writer writes one WARNING naming how many records were lost, by level."""
        handler = GateHandler()
        log = configure(handlers=[handler], queue_size=10, overflow="drop_newest")
        for i in range(50):
            log.debug("d %d", i) if i % 2 else log.info("i %d", i)
        log.setLevel(logging.DEBUG)
        for i in range(50):
            log.debug("d %d", i)
        handler.gate.set()
        assert log.flush(timeout=10)
        reports = [line for line in handler.lines if "dropped" in line]
        assert len(reports) == 1
        dropped = log.get_stats()["dropped"]
        assert reports[0].startswith(f"WARNING framepipe.logging: dropped {dropped} log records")
        assert "INFO: " in reports[0] and "DEBUG: " in reports[0]

    def test_stats_have_the_documented_keys_and_counters_only_grow(self, tmp_path) -> None:
        """get_stats() reports queue, counters and state; counters never go down."""
        log = configure(log_dir=tmp_path, queue_size=64)
        log.info("one")
        first = log.get_stats()
        log.info("two")
        assert log.flush(timeout=10)
        second = log.get_stats()
        keys = {"queue_size", "queue_maxsize", "log_file", "listener_running", "mode",
                "overflow", "accepted", "written", "dropped", "errors", "high_water"}
        assert keys <= second.keys()
        assert second["queue_maxsize"] == 64 and second["mode"] == "async"
        assert second["listener_running"] is True
        for key in ("accepted", "written", "dropped", "errors", "high_water"):
            assert second[key] >= first[key]
        assert (second["accepted"], second["written"]) == (2, 2)

    def test_flush_from_a_sink_returns_instead_of_deadlocking(self) -> None:
        """A handler that calls flush() on the writer thread gets False, not a hang."""
        results: list[bool] = []

        class FlushingHandler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                results.append(log.flush(timeout=5))

        log = configure(handlers=[FlushingHandler()])
        log.info("x")
        assert log.flush(timeout=10)
        assert results == [False]

    def test_user_objects_are_rendered_by_the_writer_not_the_caller(self) -> None:
        """An argument of a user type (a slow __str__ perhaps) is formatted on the writer thread."""
        rendered_on: list[str] = []

        class Camera:
            def __str__(self) -> str:
                rendered_on.append(threading.current_thread().name)
                return "cam0"

        handler = ListHandler()
        log = configure(handlers=[handler])
        log.info("opened %s", Camera())
        assert log.flush(timeout=10)
        assert handler.lines == ["INFO framepipe: opened cam0"]
        assert rendered_on == ["framepipe-log-writer"]

    @pytest.mark.parametrize(
        "make",
        [
            lambda: [1, 2],  # a list
            lambda: ([1, 2], "label"),  # a mutable value inside a tuple
            lambda: __import__("numpy").array([1, 2]),  # an array, changed in place
        ],
    )
    def test_mutable_containers_are_rendered_on_the_caller(self, make) -> None:
        """Values that may change in place are rendered at call time: the log shows them then."""
        handler = GateHandler()
        log = configure(handlers=[handler])
        value = make()
        log.info("v %s", value)
        expected = f"INFO framepipe: v {value}"
        target = value[0] if isinstance(value, tuple) else value
        target[0] = 9
        handler.gate.set()
        assert log.flush(timeout=10)
        assert handler.lines == [expected]

    def test_stop_with_eight_threads_still_logging_accounts_for_every_record(
        self, tmp_path, capfd
    ) -> None:
        """stop() drains at full speed beside eight logging threads, which log on after it: once
        they return, nothing is left in the queue, and every record they logged is written or
        counted as discarded after stop (one that saw room just before stop() closed the queue
        and came after the writer's last batch included)."""
        log = configure(log_dir=tmp_path, queue_size=10_000)
        running = threading.Event()
        running.set()
        started = threading.Barrier(9, timeout=30)
        logged = [0] * 8

        def keep_logging(index: int) -> None:
            started.wait()
            i = 0
            while running.is_set():
                log.info("record %d", i)
                i += 1
            logged[index] = i

        threads = [threading.Thread(target=keep_logging, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        started.wait()
        wait_until(lambda: log.get_stats()["accepted"] >= 5_000, "5,000 records", timeout=30)
        log.stop()
        running.clear()
        for thread in threads:
            thread.join(timeout=30)
        stats = log.get_stats()
        assert stats["listener_running"] is False and stats["queue_size"] == 0
        assert_counters_add_up(stats)
        assert stats["accepted"] + stats["dropped"] == sum(logged)
        lines = Path(stats["log_file"]).read_text(encoding="utf-8").splitlines()
        records = [line for line in lines if "framepipe.logging: dropped" not in line]
        assert len(records) == stats["written"]
        assert "may be lost" not in capfd.readouterr().err


    def test_a_call_under_way_as_stop_closes_the_queue_is_counted_not_left_queued(
        self, tmp_path
    ) -> None:
        """A call that saw room, then took its time (rendering a mutable argument) while stop()
        closed the queue and the writer drained for the last time and ended: its record is
        counted as discarded after stop, not left in the queue that nobody drains."""
        log = configure(log_dir=tmp_path)
        rendering, release = threading.Event(), threading.Event()

        class SlowToRender(list):  # mutable: rendered by the caller, after the room check
            def __str__(self) -> str:
                rendering.set()
                release.wait(10)
                return "rendered"

        caller = threading.Thread(target=log.info, args=("late %s", SlowToRender()))
        caller.start()
        assert rendering.wait(10)
        log.stop()
        assert not log.get_stats()["listener_running"]
        release.set()
        caller.join(10)
        stats = log.get_stats()
        assert stats["queue_size"] == 0
        assert (stats["accepted"], stats["dropped"], stats["discarded_after_stop"]) == (0, 1, 1)
        assert_counters_add_up(stats)


def assert_counters_add_up(stats: dict[str, Any]) -> None:
    """Every accepted record is written, evicted, failed or still queued."""
    assert stats["accepted"] == (
        stats["written"] + stats["evicted"] + stats["errors"] + stats["queue_size"]
    )


class TestCountersAddUp:
    @pytest.mark.parametrize("overflow", ["drop_oldest", "drop_newest", "block"])
    def test_counters_add_up_at_every_flush_under_each_policy(self, overflow: str) -> None:
        """accepted == written + evicted + errors + queued, and accepted + dropped == logged."""
        handler = GateHandler()
        log = configure(handlers=[handler], queue_size=100, overflow=overflow, block_timeout=0.001)
        logged = 0
        for round_ in range(3):
            for i in range(1_000):
                log.info("r %d %d", round_, i)
            log.warning("w %d", round_)
            logged += 1_001
            handler.gate.set()
            assert log.flush(timeout=30)
            handler.gate.clear()
            stats = log.get_stats()
            assert_counters_add_up(stats)
            assert stats["accepted"] + stats["dropped"] == logged
            assert stats["errors"] == 0
        assert stats["dropped" if overflow != "drop_oldest" else "evicted"] > 0
        assert stats["evicted" if overflow != "drop_oldest" else "dropped"] == 0
        assert sum(stats["dropped_by_level"].values()) == stats["dropped"]
        reports = [line for line in handler.lines if "framepipe.logging: dropped" in line]
        reported = sum(int(line.split()[3]) for line in reports)
        assert reported == stats["dropped"] + stats["evicted"]

    def test_counters_add_up_with_a_failing_sink(self, capfd) -> None:
        """Records a sink could not take are errors, never also written."""
        full = logging.StreamHandler(open("/dev/full", "w"))  # noqa: SIM115 - closed by stop()
        good = ListHandler()
        log = configure(handlers=[good, full])
        for i in range(300):
            log.info("r %d", i)
        assert log.flush(timeout=10)
        stats = log.get_stats()
        assert_counters_add_up(stats)
        assert (stats["written"], stats["errors"]) == (0, 300)
        capfd.readouterr()


@pytest.mark.parametrize("mode", MODES)
def test_records_after_stop_are_counted_and_reported_once(tmp_path, capfd, mode: str) -> None:
    """stop() is idempotent; later records are counted as dropped after stop, one note says so."""
    log = configure(log_dir=tmp_path, mode=mode)
    log.info("before")
    log.stop()
    log.stop()
    log.info("after")
    log.warning("after")
    log.debug("below the level: not counted")
    stats = log.get_stats()
    assert (stats["written"], stats["listener_running"]) == (1, False)
    assert (stats["dropped"], stats["discarded_after_stop"]) == (2, 2)
    err = capfd.readouterr().err
    assert err.count("logged after stop()") == 1
    assert "get_stats()['discarded_after_stop']" in err


class TestSyncMode:
    def test_sync_mode_has_written_before_the_call_returns(self, tmp_path) -> None:
        """In sync mode the record is in the sink when info() returns."""
        handler = ListHandler()
        log = configure(handlers=[handler], mode="sync")
        log.info("now")
        assert handler.lines == ["INFO framepipe: now"]
        assert log.get_stats()["mode"] == "sync"


def test_records_reach_the_sink_without_flush_within_the_flush_interval() -> None:
    """A lone INFO record is written by the idle writer's next look, with no flush() call."""
    handler = ListHandler()
    log = configure(handlers=[handler])
    log.info("on its own")
    wait_until(lambda: handler.lines, "the record to be written", timeout=10)
    assert handler.lines == ["INFO framepipe: on its own"]


class TestSequenceNumbers:
    def test_a_record_lost_to_a_full_queue_leaves_a_gap_in_seq(self) -> None:
        """Every record offered is numbered, so the written ones show where the lost ones were."""
        handler = GateHandler()
        handler.setFormatter(logging.Formatter("%(seq)d %(message)s"))
        log = configure(handlers=[handler], queue_size=10, capture_stdlib=False)
        for i in range(30):
            log.info("record %d", i)
        handler.gate.set()
        assert log.flush(timeout=10)
        numbered = [line.split() for line in handler.lines if line.split()[1] == "record"]
        seqs = [int(seq) for seq, *_ in numbered]
        first = seqs[0]
        assert [int(words[2]) for words in numbered] == [seq - first for seq in seqs]
        missing = set(range(first, first + 30)) - set(seqs)
        assert len(missing) == log.get_stats()["dropped"] > 0

    @pytest.mark.parametrize("mode", MODES)
    def test_plain_logging_records_share_the_process_sequence(self, mode: str) -> None:
        """A logging record between two framepipe records gets the number between theirs."""
        handler = ListHandler("%(seq)d %(stream)s %(name)s")
        log = configure(handlers=[handler], mode=mode)
        log.warning("one")
        logging.getLogger("lib").warning("two")
        log.warning("three")
        assert log.flush(timeout=10)
        seqs = [int(line.split()[0]) for line in handler.lines]
        assert seqs == [seqs[0], seqs[0] + 1, seqs[0] + 2]
        assert {line.split()[1] for line in handler.lines} == {"MainProcess"}

    def test_configure_again_goes_on_counting(self) -> None:
        """The sequence belongs to the process, not to one logger: no number is used twice."""
        first = ListHandler("%(seq)d")
        configure(handlers=[first]).info("a")
        second = ListHandler("%(seq)d")
        log = configure(handlers=[second])
        log.info("b")
        assert log.flush(timeout=10)
        assert int(second.lines[0]) == int(first.lines[0]) + 1
