"""configure() and get_logger(): validation, defaults, re-configuration, stdlib capture."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from framepipe.logging import configure, get_logger
from framepipe.logging._config import ROOT_NAME
from logging_helpers import ListHandler, log_lines


class TestValidation:
    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"queue_size": 0}, "queue_size must be a positive int, but got 0"),
            ({"queue_size": 2.5}, "queue_size must be a positive int, but got 2.5"),
            ({"overflow": "drop_all"}, "overflow must be one of drop_newest, drop_oldest, block"),
            ({"level": "LOUD"}, "level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
            ({"protect_level": "NOPE"}, "protect_level must be one of DEBUG"),
            ({"block_timeout": -1}, "block_timeout must be a finite number of seconds >= 0"),
            # nan and inf would make callers wait forever
            ({"block_timeout": float("nan")}, "block_timeout must be a finite number of seconds"),
            ({"block_timeout": float("inf")}, "finite number of seconds >= 0, but got inf"),
            ({"max_bytes": True}, "max_bytes must be an int >= 0 (0: never rotate), but got True"),
            ({"backup_count": False}, "backup_count must be an int >= 0, but got False"),
            ({"mode": "fast"}, "mode must be one of async, sync, but got 'fast'"),
            ({"handlers": ["not a handler"]}, "handlers must be logging.Handler instances"),
        ],
    )
    def test_bad_values_raise_value_error_saying_expected_and_actual(
        self, tmp_path, kwargs: dict[str, object], message: str
    ) -> None:
        """Each bad argument is refused with what was expected and what was given."""
        with pytest.raises(ValueError, match=re.escape(message)):
            configure(log_dir=tmp_path, **kwargs)  # type: ignore[arg-type]

    def test_an_unwritable_log_dir_raises_os_error_before_any_thread_starts(self, tmp_path) -> None:
        """A log_dir below a regular file cannot be created: OSError, and no writer thread."""
        blocker = tmp_path / "file"
        blocker.write_text("")
        threads_before = threading.active_count()
        with pytest.raises(OSError, match="log_dir must be a writable directory"):
            configure(log_dir=blocker / "logs")
        assert threading.active_count() == threads_before

    def test_a_bad_configuration_leaves_the_previous_logger_running(self, tmp_path) -> None:
        """A failed configure() changes nothing."""
        log = configure(log_dir=tmp_path)
        with pytest.raises(ValueError, match="overflow"):
            configure(log_dir=tmp_path, overflow="nope")
        log.info("still here")
        assert log_lines(log)[-1].endswith("still here")


class TestDefaults:
    def test_the_default_file_is_named_after_the_start_time(self, tmp_path) -> None:
        """<log_dir>/logs_YYYYmmdd_HHMMSS.txt."""
        log = configure(log_dir=tmp_path)
        path = log.get_stats()["log_file"]
        assert re.fullmatch(re.escape(str(tmp_path)) + r"/logs_\d{8}_\d{6}\.txt", path)

    def test_get_logger_configures_defaults_on_first_record_only(self, tmp_path) -> None:
        """In a fresh process, get_logger() creates no file until something is logged."""
        script = (
            "import os\n"
            "from framepipe.logging import get_logger\n"
            "log = get_logger(__name__)\n"
            "print(os.path.exists('logs'))\n"
            "log.info('first')\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
            timeout=60, check=True,
        )
        assert result.stdout.strip() == "False"
        [log_file] = (tmp_path / "logs").glob("logs_*.txt")
        assert log_file.read_text().strip().endswith("INFO     __main__: first")

    def test_console_true_also_writes_to_stderr(self, tmp_path, capfd) -> None:
        """console=True adds a stderr sink beside the file."""
        log = configure(log_dir=tmp_path, console=True)
        log.warning("visible")
        assert log.flush(timeout=10)
        assert "WARNING  framepipe: visible" in capfd.readouterr().err


class TestOwnLogFile:
    def test_three_configures_in_a_row_each_write_their_own_file(self, tmp_path) -> None:
        """configure() again in the same second creates a new file instead of appending to the
        previous logger's."""
        paths = []
        for i in range(3):
            log = configure(log_dir=tmp_path)
            log.info("logger %d", i)
            paths.append(log.get_stats()["log_file"])
            assert log.flush(timeout=10)
        assert len(set(paths)) == 3
        for i, path in enumerate(paths):
            assert Path(path).read_text(encoding="utf-8").endswith(f"framepipe: logger {i}\n")

    def test_concurrent_processes_started_in_the_same_second_get_one_file_each(
        self, tmp_path
    ) -> None:
        """Three processes configure the same log_dir in the same second and rotate: every file,
        rotated ones included, holds the records of exactly one process, and all of them."""
        log_dir = tmp_path / "logs"
        script = (
            "import os, sys, time\n"
            "from framepipe.logging import configure\n"
            "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
            "log = configure(log_dir=sys.argv[1], max_bytes=4000, backup_count=100)\n"
            "for i in range(300):\n"
            "    log.info('pid %d record %d', os.getpid(), i)\n"
            "assert log.flush(10)\n"
            "print(log.get_stats()['log_file'])\n"
        )
        # All three wait for the same moment, early in a whole second, to create their file.
        start_at = str(int(time.time()) + 2 + 0.1)
        children = [
            subprocess.Popen(
                [sys.executable, "-c", script, str(log_dir), start_at],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            for _ in range(3)
        ]
        try:
            outputs = [child.communicate(timeout=60) for child in children]
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
                    child.wait(timeout=10)
        assert [child.returncode for child in children] == [0, 0, 0], outputs
        paths = [out.strip() for out, _ in outputs]
        assert len(set(paths)) == 3
        owners: dict[str, set[str]] = {}
        records: dict[str, list[int]] = {}
        for file in sorted(log_dir.iterdir()):
            found = re.findall(r": pid (\d+) record (\d+)$", file.read_text(), re.MULTILINE)
            owners[file.name] = {pid for pid, _ in found}
            for pid, number in found:
                records.setdefault(pid, []).append(int(number))
        assert all(len(pids) == 1 for pids in owners.values()), owners
        assert len(records) == 3
        assert all(sorted(numbers) == list(range(300)) for numbers in records.values())


class TestReconfiguration:
    def test_loggers_taken_before_configure_follow_the_new_configuration(self, tmp_path) -> None:
        """get_logger(...) at import time keeps working after configure() replaces the engine."""
        child = get_logger("camera")
        first = configure(log_dir=tmp_path / "a")
        second = configure(log_dir=tmp_path / "b")
        assert first is second is get_logger()
        child.info("after")
        assert log_lines(second)[-1].endswith("INFO     camera: after")

    def test_records_queued_before_a_reconfigure_are_written_to_the_old_sink(self) -> None:
        """configure() drains the previous logger before it is dropped."""
        old, new = ListHandler(), ListHandler()
        log = configure(handlers=[old])
        for i in range(1_000):
            log.info("r %d", i)
        configure(handlers=[new])
        assert len(old.lines) == 1_000

    def test_children_share_the_queue_and_follow_the_root_level(self) -> None:
        """Named children write through the same sinks and inherit setLevel from the root."""
        handler = ListHandler()
        log = configure(handlers=[handler], level="INFO")
        child = get_logger("grabber")
        assert get_logger("grabber") is child and get_logger(ROOT_NAME) is log
        log.setLevel(logging.WARNING)
        child.info("hidden")
        child.warning("shown")
        assert log.flush(timeout=10)
        assert handler.lines == ["WARNING grabber: shown"]

    def test_a_child_level_overrides_the_root_level(self) -> None:
        """setLevel on a child applies to that child only."""
        handler = ListHandler()
        log = configure(handlers=[handler], level="WARNING")
        child = get_logger("detail")
        child.setLevel("DEBUG")
        child.debug("child debug")
        log.info("root info")
        assert log.flush(timeout=10)
        assert handler.lines == ["DEBUG detail: child debug"]


class TestStdlibCapture:
    def test_plain_logging_records_go_through_the_same_queue(self) -> None:
        """logging.getLogger(...) records reach the configured sinks, at the configured level."""
        handler = ListHandler()
        log = configure(handlers=[handler], level="INFO")
        logging.getLogger("thirdparty").info("hello %s", "stdlib")
        logging.getLogger("thirdparty").debug("below level")
        assert log.flush(timeout=10)
        assert handler.lines == ["INFO thirdparty: hello stdlib"]

    def test_capture_can_be_turned_off(self) -> None:
        """capture_stdlib=False leaves the root logger alone."""
        handler = ListHandler()
        log = configure(handlers=[handler], capture_stdlib=False)
        logging.getLogger("thirdparty").warning("not captured")
        assert log.flush(timeout=10)
        assert handler.lines == []

    def test_reconfiguring_does_not_accumulate_root_handlers(self) -> None:
        """Ten configure() calls leave exactly one bridge on the root logger; stop() removes it."""
        before = list(logging.getLogger().handlers)
        for _ in range(10):
            log = configure(handlers=[ListHandler()])
        added = [h for h in logging.getLogger().handlers if h not in before]
        assert len(added) == 1
        log.stop()
        assert logging.getLogger().handlers == before
