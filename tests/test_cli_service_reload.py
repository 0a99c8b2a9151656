"""Tests for framepipe.cli._service_reload: a config file read again, applied to a running set."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from framepipe import PipelineConfig
from framepipe.cli._service_config import parse_service_config
from framepipe.cli._service_reload import ConfigReloader, plan_reload
from framepipe.cli._service_streams import Origin, ServiceStreams, StreamEntry
from framepipe.cli.serve import load_checked
from framepipe.pipeline.stream_settings import StreamSettings
from framepipe.streams import start_streams
from helpers import wait_until

PACED = "synthetic:64x48@30:600"  # with realtime: ten minutes unless stopped
WAIT_S = 30.0

pytestmark = pytest.mark.usefixtures("logs_in_tmp")


def streams_file(*tables: str) -> str:
    return '[defaults]\nrealtime = true\nprocessor = "none"\n' + "".join(
        f"[[stream]]\n{table}\n" for table in tables
    )


def entry(name: str, origin: Origin = "file") -> StreamEntry:
    """A stream as ``streams_file`` describes it with only a name and the paced source."""
    return StreamEntry(
        StreamSettings(name, PACED, ("none",), PipelineConfig(realtime=True)), origin
    )


class TestPlan:
    def test_added_removed_changed_and_unchanged_against_the_file_as_applied(self) -> None:
        running = {e.name: e for e in (entry("keep"), entry("drop"), entry("edit"))}
        new = parse_service_config(streams_file(
            f'name = "keep"\nsource = "{PACED}"',
            f'name = "edit"\nsource = "{PACED}"\nlog_every = 5',
            f'name = "new"\nsource = "{PACED}"',
        ))  # fmt: skip
        plan = plan_reload(running, new)
        assert [s.name for s in plan.added] == ["new"]
        assert plan.removed == ("drop",)
        assert [s.name for s in plan.changed] == ["edit"]
        assert plan.changed[0].config.log_every == 5
        assert plan.unchanged == ("keep",)

    def test_streams_added_through_the_api_are_not_the_file_s_to_remove(self) -> None:
        running = {"cam": entry("cam", origin="api")}
        assert plan_reload(running, parse_service_config(streams_file())).empty

    def test_an_api_stream_the_file_now_names_becomes_the_file_s(self) -> None:
        """Even with the same settings, it is restarted as the file's own."""
        running = {"cam": entry("cam", origin="api")}
        new = parse_service_config(streams_file(f'name = "cam"\nsource = "{PACED}"'))
        assert [s.name for s in plan_reload(running, new).changed] == ["cam"]


def frames(handle, name: str) -> int:
    return handle.streams[name].snapshot().frames_processed


class TestReload:
    def test_a_reload_applies_the_file_and_a_broken_file_changes_nothing(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Against real workers: the added stream starts, the removed one stops, the changed
        one restarts with its new settings, the untouched one goes on in the same worker; a
        file that no longer parses is an ERROR and keeps the set; each outcome is counted."""
        path = tmp_path / "cameras.toml"
        path.write_text(streams_file(
            f'name = "keep"\nsource = "{PACED}"',
            f'name = "drop"\nsource = "{PACED}"',
            f'name = "edit"\nsource = "{PACED}"',
        ))  # fmt: skip
        config = load_checked(str(path))
        registry = ServiceStreams.from_file(config.streams)
        log = logging.getLogger("test.reload")
        caplog.set_level(logging.INFO, logger="test.reload")
        applied = []
        with start_streams(
            [s.source for s in config.streams], names=[s.name for s in config.streams],
            configs=[s.config for s in config.streams],
            processors=[s.processor for s in config.streams], service=True,
        ) as handle:  # fmt: skip
            reloader = ConfigReloader(
                lambda: load_checked(str(path)), config, handle, registry, log, applied.append
            )
            wait_until(
                lambda: all(frames(handle, n) > 0 for n in ("keep", "drop", "edit")),
                lambda: f"every stream to run: {handle.snapshot()}",
                timeout=WAIT_S,
            )
            keep_pid = handle.streams["keep"].pid
            path.write_text(streams_file(
                f'name = "keep"\nsource = "{PACED}"',
                f'name = "edit"\nsource = "{PACED}"\nlog_every = 7',
                f'name = "new"\nsource = "{PACED}"',
            ))  # fmt: skip
            assert reloader.reload()
            assert handle.names == ("keep", "edit", "new")
            assert registry.names() == ("keep", "edit", "new")
            edited = registry.get("edit")
            assert edited is not None and edited.settings.config.log_every == 7
            assert handle.streams["keep"].pid == keep_pid  # the same worker, no gap
            assert [c.path for c in applied] == [str(path)]

            path.write_text("[[stream]]\nname = ")  # broken TOML
            assert not reloader.reload()
            assert handle.names == ("keep", "edit", "new")
            assert reloader.stats() == {"config_reloads": {"ok": 1, "error": 1}}
        messages = [(r.levelname, r.getMessage()) for r in caplog.records]
        assert (
            "INFO",
            f"reload of {path}: added 1 (new), removed 1 (drop), restarted 1 (edit), unchanged 1",
        ) in messages
        errors = [m for level, m in messages if level == "ERROR"]
        assert len(errors) == 1 and "not valid TOML" in errors[0]
        assert errors[0].endswith("the running streams are kept")

    def test_a_change_the_set_refuses_is_an_error_and_the_rest_still_applies(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A stream the file adds under a name the set already runs (not recorded as the
        file's: another client's) fails alone; the reload counts as an error."""
        path = tmp_path / "cameras.toml"
        path.write_text(streams_file())
        config = load_checked(str(path))
        registry = ServiceStreams()
        caplog.set_level(logging.INFO, logger="test.reload")
        with start_streams([PACED], names=["taken"], processor="none", service=True) as handle:
            reloader = ConfigReloader(
                lambda: load_checked(str(path)), config, handle, registry,
                logging.getLogger("test.reload"),
            )  # fmt: skip
            path.write_text(streams_file(
                f'name = "taken"\nsource = "{PACED}"', f'name = "fresh"\nsource = "{PACED}"'
            ))  # fmt: skip
            assert not reloader.reload()
            assert handle.names == ("taken", "fresh")
            assert reloader.stats() == {"config_reloads": {"ok": 0, "error": 1}}
        errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert any("add stream taken failed" in m for m in errors), errors


class TestRestartOnly:
    def test_what_only_a_restart_changes_is_a_warning_naming_it(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """``[log]``, ``[server]``'s host and port and ``cv_threads``: applied at the next
        start, said once per reload; the rest of the file still applies."""
        path = tmp_path / "cameras.toml"
        path.write_text(streams_file())
        config = load_checked(str(path))
        log = logging.getLogger("test.reload.restart")
        caplog.set_level(logging.WARNING, logger="test.reload.restart")
        with start_streams([], service=True) as handle:
            reloader = ConfigReloader(
                lambda: load_checked(str(path)), config, handle, ServiceStreams.from_file(()), log
            )
            path.write_text("[server]\ncv_threads = 2\nport = 0\n" + streams_file())
            assert reloader.reload()
        (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert "[server] host and port and [server] cv_threads changed in" in warning, warning
