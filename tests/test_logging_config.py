"""configure() and get_logger(): validation, defaults, re-configuration, stdlib capture."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from framepipe.logging import configure, get_logger
from framepipe.logging._config import ROOT_NAME
from helpers import child_command
from logging_helpers import ListHandler, log_lines


def run_fresh(
    scenario: str, cwd: Path, *args: str, log_dir_env: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a scenario of ``tests/children/fresh_logger.py`` in a fresh Python in ``cwd``;
    FRAMEPIPE_LOG_DIR is set only when given."""
    env = {k: v for k, v in os.environ.items() if k != "FRAMEPIPE_LOG_DIR"}
    if log_dir_env is not None:
        env["FRAMEPIPE_LOG_DIR"] = log_dir_env
    return subprocess.run(
        child_command("fresh_logger", scenario, *args), cwd=cwd, env=env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip


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
        result = run_fresh("get_logger_then_log", tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "False"
        [log_file] = (tmp_path / "logs").glob("logs_*.txt")
        assert log_file.read_text().strip().endswith("INFO     __main__: first")

    def test_log_dir_none_writes_only_to_stderr(self, tmp_path) -> None:
        """configure(log_dir=None) creates no directory and no file; records go to stderr."""
        result = run_fresh("log_dir_none", tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "None"
        assert result.stderr.strip().endswith("WARNING  framepipe: on stderr")
        assert list(tmp_path.iterdir()) == []

    def test_console_true_also_writes_to_stderr(self, tmp_path, capfd) -> None:
        """console=True adds a stderr sink beside the file."""
        log = configure(log_dir=tmp_path, console=True)
        log.warning("visible")
        assert log.flush(timeout=10)
        assert "WARNING  framepipe: visible" in capfd.readouterr().err


class TestIsConfigured:
    def test_it_turns_true_with_the_first_record_not_with_get_logger(self, tmp_path) -> None:
        """is_configured() says whether a logger exists: get_logger() alone makes none, and
        asking creates no file."""
        result = run_fresh("is_configured_by_a_first_record", tmp_path)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == [False, False, True]

    def test_configure_makes_it_true(self, tmp_path) -> None:
        """After configure() this process has a logger, and it stays so after stop()."""
        result = run_fresh("is_configured_by_configure", tmp_path)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == [False, True, True]

    def test_it_is_public(self) -> None:
        """is_configured is part of framepipe.logging's curated surface."""
        import framepipe.logging

        assert "is_configured" in framepipe.logging.__all__


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
        # All three wait for the same moment, early in a whole second, to create their file.
        start_at = str(int(time.time()) + 2 + 0.1)
        children = [
            subprocess.Popen(
                child_command("configure_at", log_dir, start_at),
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


class TestImplicitConfigure:
    """A library's first record configures a logger that touches nothing process-wide."""

    def test_a_librarys_first_record_installs_no_hook_and_no_root_handler(self, tmp_path) -> None:
        """Signal handlers, excepthooks and the root logger are as the app left them; the record
        is still written at exit."""
        result = run_fresh("a_library_logs", tmp_path)
        assert result.returncode == 0, result.stderr
        before, after = json.loads(result.stdout)
        assert after == before
        [log_file] = (tmp_path / "logs").glob("logs_*.txt")
        assert log_file.read_text().strip().endswith("INFO     lib: from a library")

    def test_an_explicit_configure_after_it_installs_the_hooks(self, tmp_path) -> None:
        """The app's own configure() takes over: signal hook and root handler are installed."""
        result = run_fresh("the_app_configures_after_a_library", tmp_path)
        assert result.returncode == 0, result.stderr
        before, after = json.loads(result.stdout)
        assert after["sigterm"] != before["sigterm"]
        assert after["root_handlers"] != before["root_handlers"]

    def test_framepipe_log_dir_names_the_directory(self, tmp_path) -> None:
        """FRAMEPIPE_LOG_DIR=<dir>: the file goes there, and no ./logs appears."""
        result = run_fresh("library_record", tmp_path, "INFO", "into the chosen dir",
                           log_dir_env=str(tmp_path / "chosen"))  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert not (tmp_path / "logs").exists()
        [log_file] = (tmp_path / "chosen").glob("logs_*.txt")
        assert log_file.read_text().strip().endswith("lib: into the chosen dir")

    def test_an_empty_framepipe_log_dir_sends_records_to_stderr_only(self, tmp_path) -> None:
        """FRAMEPIPE_LOG_DIR="": no directory, no file; the record is on stderr."""
        result = run_fresh("library_record", tmp_path, "WARNING", "on stderr", log_dir_env="")
        assert result.returncode == 0, result.stderr
        assert list(tmp_path.iterdir()) == []
        assert result.stderr.strip().endswith("WARNING  lib: on stderr")

    def test_an_unwritable_log_dir_falls_back_to_stderr_without_raising(self, tmp_path) -> None:
        """The library's log call never raises: the record goes to stderr, with one note why."""
        (tmp_path / "file").write_text("")
        result = run_fresh("library_record", tmp_path, "WARNING", "still logged",
                           log_dir_env=str(tmp_path / "file" / "logs"))  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "returned"
        note, record = result.stderr.strip().splitlines()
        assert note.startswith("framepipe.logging: cannot write a log file in ")
        assert record.endswith("WARNING  lib: still logged")


class TestTheAppsLoggingIsLeftAlone:
    def test_the_root_level_and_the_apps_debug_output_are_unchanged(self) -> None:
        """An app logging DEBUG to its own handler keeps its root level and its DEBUG output
        under configure(level="INFO"), and after stop()."""
        root = logging.getLogger()
        app_handler = ListHandler()
        previous_level = root.level
        root.setLevel(logging.DEBUG)
        root.addHandler(app_handler)
        try:
            sink = ListHandler()
            log = configure(handlers=[sink], level="INFO")
            assert root.level == logging.DEBUG
            logging.getLogger("app").debug("detail %d", 1)
            logging.getLogger("app").info("news %d", 2)
            assert log.flush(timeout=10)
            log.stop()
            assert root.level == logging.DEBUG
            assert app_handler.lines == ["DEBUG app: detail 1", "INFO app: news 2"]
            assert sink.lines == ["INFO app: news 2"]
        finally:
            root.removeHandler(app_handler)
            root.setLevel(previous_level)

    def test_sinks_get_their_own_handle_error_back_after_stop_and_reconfigure(self) -> None:
        """While a handler is a sink its handleError counts failures; once it is no longer one
        (stop(), or a configure() without it) it has its own handleError again."""
        plain, customized = ListHandler(), ListHandler()

        def apps_hook(record: logging.LogRecord) -> None:
            pass

        customized.handleError = apps_hook  # type: ignore[method-assign]
        configure(handlers=[plain, customized])
        assert "handleError" in vars(plain)
        assert vars(customized)["handleError"] is not apps_hook
        log = configure(handlers=[plain])  # the same handler again, the other one dropped
        assert vars(customized)["handleError"] is apps_hook
        assert "handleError" in vars(plain)
        log.stop()
        assert "handleError" not in vars(plain)


class TestStdlibCapture:
    def test_plain_logging_records_go_through_the_same_queue(self) -> None:
        """logging.getLogger(...) records that the app's logger lets through reach the configured
        sinks, at framepipe's level."""
        handler = ListHandler()
        log = configure(handlers=[handler], level="INFO")
        thirdparty = logging.getLogger("thirdparty")
        thirdparty.setLevel(logging.DEBUG)
        try:
            thirdparty.info("hello %s", "stdlib")
            thirdparty.debug("below level")
            assert log.flush(timeout=10)
        finally:
            thirdparty.setLevel(logging.NOTSET)
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
