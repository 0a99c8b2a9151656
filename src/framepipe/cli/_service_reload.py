"""SIGHUP for ``framepipe serve``: read the config file again and bring the running set to it.

The file owns the streams it names; streams added through the API are not its own, and a
reload leaves them alone (unless the file now names one: the file's settings win). Against the
file as it was last applied, a reload starts the streams added, stops the ones removed, and
restarts (stop, then start with the new settings) the ones whose settings changed; every other
stream goes on untouched, without a gap in its frames. A file that no longer reads or checks is
logged as an ERROR and changes nothing. Either way the outcome is counted
(``framepipe_config_reloads_total{result}``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

from framepipe.cli._service_api import AuditLog
from framepipe.cli._service_config import ServiceConfig
from framepipe.cli._service_streams import ServiceStreams, StreamEntry
from framepipe.monitor.api import ServiceStats
from framepipe.pipeline.stream_settings import SettingsError, StreamSettings
from framepipe.streams.api import StreamsHandle
from framepipe.streams.stream_set import StreamSetError

__all__ = ["ConfigReloader", "ReloadPlan", "plan_reload"]


@dataclass(frozen=True)
class ReloadPlan:
    """What a reload changes: names in the order the new file lists them (removed: the order
    they ran in)."""

    added: tuple[StreamSettings, ...]
    removed: tuple[str, ...]
    changed: tuple[StreamSettings, ...]
    unchanged: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def plan_reload(running: Mapping[str, StreamEntry], new: ServiceConfig) -> ReloadPlan:
    """The changes that bring ``running`` (every stream's entry, by name) to the file ``new``."""
    wanted = {stream.name: stream for stream in new.streams}
    added, changed, unchanged = [], [], []
    for name, settings in wanted.items():
        entry = running.get(name)
        if entry is None:
            added.append(settings)
        elif entry.settings != settings:
            changed.append(settings)  # the file's, or an API stream the file now names
        elif entry.origin != "file":
            changed.append(settings)  # the same settings, but the file owns it from now on
        else:
            unchanged.append(name)
    removed = [
        name for name, entry in running.items() if entry.origin == "file" and name not in wanted
    ]
    return ReloadPlan(tuple(added), tuple(removed), tuple(changed), tuple(unchanged))


class ConfigReloader:
    """Applies the file again on request; ``stats()`` counts the reloads by outcome.

    ``load`` reads and checks the file (and imports what it names), raising SettingsError;
    ``current`` is the file as the service started with it; ``applied`` is told about each file
    that was applied (the API's rules come from it). ``logger`` gets one line per reload (INFO
    when it went through, ERROR when not) and a WARNING for what only a restart changes (the
    log, the server's address).
    """

    def __init__(
        self,
        load: Callable[[], ServiceConfig],
        current: ServiceConfig,
        handle: StreamsHandle,
        streams: ServiceStreams,
        logger: AuditLog,
        applied: Callable[[ServiceConfig], None] | None = None,
    ) -> None:
        self._load = load
        self._current = current
        self._handle = handle
        self._streams = streams
        self._log = logger
        self._applied = applied
        self._lock = threading.Lock()  # one reload at a time; stats() from the server's thread
        self._counts = {"ok": 0, "error": 0}

    def stats(self) -> ServiceStats:
        with self._lock:
            return {"config_reloads": dict(self._counts)}

    def reload(self) -> bool:
        """Read the file and apply it; whether it was applied in full."""
        try:
            config = self._load()
        except SettingsError as exc:
            self._log.error("reload: %s; the running streams are kept", exc)
            self._count("error")
            return False
        plan = plan_reload(self._streams.entries(), config)
        failures = self._apply(plan)
        self._warn_about_restart_only(config)
        self._current = config
        if self._applied is not None:
            self._applied(config)
        self._report(config.path, plan, failures)
        self._count("error" if failures else "ok")
        return not failures

    def _apply(self, plan: ReloadPlan) -> list[str]:
        """Removals first (they free names and outputs), then restarts, then additions."""
        steps: list[tuple[str, str, Callable[[], None]]] = [
            *((name, "remove", partial(self._remove, name)) for name in plan.removed),
            *((s.name, "restart", partial(self._replace, s)) for s in plan.changed),
            *((s.name, "add", partial(self._add, s)) for s in plan.added),
        ]
        failures = []
        for name, what, change in steps:
            try:
                change()
            except (StreamSetError, ValueError, TimeoutError) as exc:
                reason = " ".join(str(exc).split())
                self._log.error("reload: %s stream %s failed: %s", what, name, reason)
                failures.append(f"{what} {name}: {reason}")
        return failures

    def _warn_about_restart_only(self, config: ServiceConfig) -> None:
        old, new = self._current, config
        kept = [
            what
            for what, changed in (
                ("[log]", old.log != new.log),
                ("[server] host and port", (old.server.host, old.server.port)
                 != (new.server.host, new.server.port)),
                ("[server] cv_threads", old.server.cv_threads != new.server.cv_threads),
            )
            if changed
        ]  # fmt: skip
        if kept:
            self._log.warning(
                "reload: %s changed in %s: kept as they were until the service restarts",
                " and ".join(kept), config.path,
            )  # fmt: skip

    def _remove(self, name: str) -> None:
        self._handle.remove_stream(name)
        self._streams.forget(name)

    def _replace(self, settings: StreamSettings) -> None:
        if settings.name in self._handle.names:
            self._handle.remove_stream(settings.name)
        self._streams.forget(settings.name)
        self._add(settings)

    def _add(self, settings: StreamSettings) -> None:
        self._handle.add_stream(
            settings.name, settings.source, list(settings.processor), settings.config
        )
        self._streams.record(StreamEntry(settings, "file"))

    def _report(self, path: str, plan: ReloadPlan, failures: list[str]) -> None:
        def names(items: tuple[str, ...]) -> str:
            return f"{len(items)}" + (f" ({', '.join(items)})" if items else "")

        line = (
            f"reload of {path}: added {names(tuple(s.name for s in plan.added))}, "
            f"removed {names(plan.removed)}, restarted {names(tuple(s.name for s in plan.changed))}"
            f", unchanged {len(plan.unchanged)}"
        )
        if failures:
            self._log.error("%s; %d change(s) failed: %s", line, len(failures), "; ".join(failures))
        else:
            self._log.info("%s", line)

    def _count(self, result: str) -> None:
        with self._lock:
            self._counts[result] += 1
