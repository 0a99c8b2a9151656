"""``run_streams()`` and ``start_streams()``: several streams, a worker process each.

    from framepipe import run_streams
    report = run_streams(["front.mp4", "rtsp://door.local/live"], processor="edges")
    report.to_dict()["total"]["fps"]

Everything that can be wrong is checked here, before a worker starts: the sources, the names,
the config, and the processor, which must be rebuildable in another process (a built-in name or
an import path; a lambda or a function defined in ``__main__`` is refused).
"""

from __future__ import annotations

import atexit
import dataclasses
import multiprocessing
import os
import threading
from collections.abc import (
    Callable,
    ItemsView,
    Iterator,
    KeysView,
    Mapping,
    Sequence,
    ValuesView,
)
from pathlib import Path
from typing import Any

from framepipe._closing import Closing
from framepipe.pipeline.config import PipelineConfig
from framepipe.pipeline.live import PipelineSnapshot
from framepipe.pipeline.sources import parse_source
from framepipe.pipeline.status import RunStatus
from framepipe.streams._commands import Command
from framepipe.streams._live_set import LiveSetSupervisor
from framepipe.streams._supervisor import (
    HANG_TIMEOUT_S,
    START_WAIT_S,
    STOP_TIMEOUT_S,
    Supervisor,
)
from framepipe.streams.engine import ENGINES, Engine, LocalEngine
from framepipe.streams.job import LogTarget, StreamJob, portable_processor
from framepipe.streams.names import check_name, stream_names
from framepipe.streams.ray_engine import RayEngine
from framepipe.streams.report import StreamResult, StreamsReport
from framepipe.streams.stream_set import StreamSetError, StreamState
from framepipe.typing import ProcessorSpec

__all__ = [
    "LIVE_RESTART_ATTEMPTS",
    "StreamView",
    "StreamViews",
    "StreamsHandle",
    "default_cv_threads",
    "run_streams",
    "start_streams",
    "stream_output",
]

LIVE_RESTART_ATTEMPTS = 3  # a camera or stream is restarted this often by default; files never
COMMAND_TIMEOUT_S = 10.0  # for a change to be applied: a step of the supervisor, a worker's spawn

SourceArg = str | int | None


def default_cv_threads(streams: int) -> int:
    """OpenCV threads per worker: the cores this process may use, shared out, at least one."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, streams))


def stream_output(output: str | os.PathLike[str], name: str) -> str:
    """A stream's own output path: ``{stream}`` in the path replaced by its name, else the name
    added before the extension (``out.mp4`` -> ``out-door.mp4``)."""
    text = os.fspath(output)
    if "{stream}" in text:
        return text.replace("{stream}", name)
    path = Path(text)
    return str(path.with_name(f"{path.stem}-{name}{path.suffix}"))


class StreamView:
    """One stream of a running set: ``snapshot()`` for any observer (a stats server, a table).

    An observer may still hold the view of a stream removed from the set a moment ago: it then
    answers as an ended stream (its last snapshot), with no process and no preview.
    """

    def __init__(self, supervisor: Supervisor, name: str) -> None:
        self._supervisor = supervisor
        self.name = name
        self._last: PipelineSnapshot | None = None

    @property
    def pid(self) -> int | None:
        """The worker process running the stream now (None between a crash and its restart)."""
        try:
            return self._supervisor.pid(self.name)
        except KeyError:  # removed
            return None

    @property
    def node(self) -> str | None:
        """The machine running the stream with the Ray engine (None for a local worker)."""
        try:
            return self._supervisor.node(self.name)
        except KeyError:
            return None

    @property
    def restart_count(self) -> int | None:
        """The times the stream's worker was restarted so far (None once removed)."""
        try:
            return self._supervisor.restart_count(self.name)
        except KeyError:
            return None

    def snapshot(self) -> PipelineSnapshot:
        try:
            self._last = self._supervisor.snapshot(self.name)
        except KeyError:  # removed since its name was read
            last = self._last or RunStatus(self.name).snapshot(0.0)
            return dataclasses.replace(last, state="ended", fps=0.0)
        return self._last

    def want_preview(self) -> None:
        """Someone watches: the worker sends its latest frame as JPEG for a while."""
        try:
            self._supervisor.want_preview(self.name)
        except KeyError:
            pass  # removed: nothing to send

    def preview(self) -> tuple[bytes | None, str | None]:
        """The latest preview ``(jpeg, error)`` the worker sent; ``(None, None)`` before any."""
        try:
            return self._supervisor.preview(self.name)
        except KeyError:
            return None, None

    def __repr__(self) -> str:
        return f"<StreamView {self.name} pid={self.pid}>"


class StreamViews(Mapping[str, StreamView]):
    """The views of the streams in a set now, by name: follows streams as they come and go.

    Each read sees one whole set (the supervisor replaces its tuple of names whole), so
    iterating it from any thread is safe while streams are added and removed.
    """

    def __init__(self, supervisor: Supervisor) -> None:
        self._supervisor = supervisor
        self._seen: tuple[tuple[str, ...], dict[str, StreamView]] = ((), {})

    def _views(self) -> dict[str, StreamView]:
        names = self._supervisor.names
        seen, views = self._seen
        if names != seen:  # a new dict, never changed once published
            views = {name: views.get(name) or StreamView(self._supervisor, name) for name in names}
            self._seen = (names, views)
        return views

    def __getitem__(self, name: str) -> StreamView:
        return self._views()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._views())

    def __len__(self) -> int:
        return len(self._views())

    # One set read once: the generic ones would look each name up again in a newer set.
    def keys(self) -> KeysView[str]:
        return self._views().keys()

    def values(self) -> ValuesView[StreamView]:
        return self._views().values()

    def items(self) -> ItemsView[str, StreamView]:
        return self._views().items()

    def __repr__(self) -> str:
        return f"<StreamViews {list(self._views())}>"


class StreamsHandle(Closing):
    """Streams running in worker processes, supervised from a background thread.

    ``stop()`` ends every stream after its current frame, ``kill()`` at once; ``wait()`` returns
    the :class:`StreamsReport` once every stream has ended. ``snapshot()`` gives every stream's
    latest snapshot (no frames), and ``streams[name].snapshot()`` one of them; ``streams`` is
    what ``framepipe.monitor`` watches. As a context manager, leaving the block stops and waits.
    If the program exits first, its streams are stopped on the way out.

    While it runs, the set takes changes from any thread: ``add_stream()``, ``remove_stream()``,
    ``restart_stream()``, ``list_streams()`` (see :mod:`framepipe.streams.stream_set`), and
    ``streams`` follows them. Started with ``service=True``, ``wait()`` returns only once it
    was stopped, however many streams have ended.
    """

    def __init__(
        self,
        supervisor: Supervisor,
        log_stats: Any = None,
        stop_timeout_s: float = STOP_TIMEOUT_S,
        close_engine: Callable[[], None] | None = None,
        *,
        start: bool = True,
    ) -> None:
        self._supervisor = supervisor
        self._close_engine = close_engine
        self._log_stats = log_stats
        self._stop_timeout_s = stop_timeout_s
        self.streams: Mapping[str, StreamView] = StreamViews(supervisor)
        self._report: StreamsReport | None = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="framepipe-supervisor", daemon=True)
        self._started = False
        if start:
            self.start()

    def start(self) -> None:
        """Start the workers (once; ``start_streams(..., start=False)`` leaves it to the caller,
        who may first serve ``streams``)."""
        if self._started:
            raise RuntimeError("the streams were started already")
        self._started = True
        atexit.register(self._at_exit)
        self._thread.start()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.streams)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def snapshot(self) -> dict[str, PipelineSnapshot]:
        """Every stream's latest snapshot, by name."""
        return {name: view.snapshot() for name, view in self.streams.items()}

    def stop(self) -> None:
        """Stop every stream after its current frame (safe from a signal handler)."""
        self._supervisor.stop()

    def kill(self) -> None:
        """End every worker now."""
        self._supervisor.kill()

    def wait(self, timeout: float | None = None) -> StreamsReport | None:
        """The report once every stream has ended; None if ``timeout`` passes first."""
        if not self._done.wait(timeout):
            return None
        if self._error is not None:
            raise RuntimeError(f"the supervisor failed: {self._error}") from self._error
        return self._report

    # -- a set that changes while it runs --------------------------------------------------------

    def add_stream(
        self,
        name: str,
        source: SourceArg,
        processor: ProcessorSpec = None,
        config: PipelineConfig | None = None,
        *,
        restart_attempts: int | None = None,
        cv_threads: int | None = None,
        timeout: float | None = COMMAND_TIMEOUT_S,
    ) -> StreamState:
        """Start a stream of its own settings in the running set; its state once its worker
        was started.

        Checked here, as :func:`start_streams` checks them: ValueError for a bad name, config
        or processor, SourceError for a source that does not parse. Then StreamNameInUse,
        StreamSetClosed (the set is stopping), StreamSetBusy (too many changes waiting).
        ``restart_attempts``: default 3 for a camera or stream, 0 for a file; ``cv_threads``
        and where it logs: the first stream's.
        """
        if config is None:
            config = PipelineConfig()
        elif not isinstance(config, PipelineConfig):
            raise ValueError(f"config must be a PipelineConfig, but got {config!r}")
        spec = parse_source(source)
        (attempts,) = _restart_attempts(restart_attempts, [spec.is_live])
        supervisor = self._live()
        if cv_threads is None:
            cv_threads = supervisor.cv_threads
        elif isinstance(cv_threads, bool) or not isinstance(cv_threads, int) or cv_threads < 1:
            raise ValueError(f"cv_threads must be a positive integer, but got {cv_threads!r}")
        job = StreamJob(
            check_name(name), source, portable_processor(processor), config, cv_threads,
            supervisor.log_target,
        )  # fmt: skip
        return self.add_job(job, attempts, timeout=timeout)

    def add_job(
        self,
        job: StreamJob,
        restart_attempts: int = 0,
        *,
        timeout: float | None = COMMAND_TIMEOUT_S,
    ) -> StreamState:
        """Start ``job`` (checked by its maker) in the running set; see :meth:`add_stream`."""
        command = Command("add", job.name, job, restart_attempts)
        state: StreamState = self._live().commands.submit(command, timeout)
        return state

    def remove_stream(self, name: str, timeout: float | None = None) -> StreamResult:
        """Stop ``name`` after its current frame and take it out of the set; its result, once
        its worker has ended (its output closed, its records sent). A worker that does not stop
        within the stop timeout is killed (its result says so); one still starting first has
        ``START_WAIT_S`` to start. UnknownStream when the set has no such stream; ``timeout``
        (default: those and a margin) bounds the wait."""
        if timeout is None:
            timeout = START_WAIT_S + self._stop_timeout_s + COMMAND_TIMEOUT_S
        result: StreamResult = self._live().commands.submit(Command("remove", name), timeout)
        return result

    def restart_stream(self, name: str, timeout: float | None = None) -> StreamState:
        """Stop ``name`` as :meth:`remove_stream` does, then start it again under its name, its
        counters going on; its state once the new worker was started. An ended stream starts
        again at once."""
        if timeout is None:
            timeout = START_WAIT_S + self._stop_timeout_s + COMMAND_TIMEOUT_S
        state: StreamState = self._live().commands.submit(Command("restart", name), timeout)
        return state

    def list_streams(self, timeout: float | None = COMMAND_TIMEOUT_S) -> tuple[StreamState, ...]:
        """Every stream in the set and what it does now, in the order they were added."""
        states: tuple[StreamState, ...] = self._live().commands.submit(Command("list"), timeout)
        return states

    def _live(self) -> LiveSetSupervisor:
        if not isinstance(self._supervisor, LiveSetSupervisor):
            raise StreamSetError("this stream set takes no changes while it runs")
        return self._supervisor

    def _run(self) -> None:
        try:
            try:
                report = self._supervisor.run()
            finally:
                if self._close_engine is not None:
                    self._close_engine()
            stats = self._log_stats() if self._log_stats is not None else None
            self._report = dataclasses.replace(report, log=stats or {})
        except BaseException as exc:  # kept for wait(); the workers were killed on the way out
            self._error = exc
        finally:
            self._done.set()
            atexit.unregister(self._at_exit)

    def close(self) -> None:
        """Stop every stream and wait for the workers; kill the ones that do not stop in time.

        Streams that were never started start none: only the engine is closed.
        """
        if not self._started:
            self._started = True  # and never will be
            if self._close_engine is not None:
                self._close_engine()
            self._done.set()
            return
        self.stop()
        if not self._done.wait(START_WAIT_S + self._stop_timeout_s + 5.0):
            self.kill()
            self._done.wait(10.0)
        self._thread.join(1.0)

    def _at_exit(self) -> None:
        if not self._done.is_set():
            self.close()


def _refuse_in_a_starting_worker() -> None:
    """RuntimeError inside a spawned process that is still importing the main module.

    A worker process (spawn) imports the parent's main module before it runs: a program that
    starts streams at module level would start them again in each of its workers. Python's own
    check (``multiprocessing.spawn._check_not_importing_main``) only runs when a process is
    started on the importing thread; streams start theirs from the supervisor's thread.
    """
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise RuntimeError(
            "start_streams() was called while a worker process was importing the main module: "
            'start streams under if __name__ == "__main__": (each worker imports the main '
            "module of the program that started it)"
        )


def start_streams(
    sources: Sequence[SourceArg],
    processor: ProcessorSpec = None,
    config: PipelineConfig | None = None,
    names: Sequence[str | None] | None = None,
    engine: str | Engine = "local",
    *,
    cv_threads: int | None = None,
    restart_attempts: int | Sequence[int] | None = None,
    fail_fast: bool = False,
    service: bool = False,
    log_target: LogTarget | None = None,
    logger: Any = None,
    stop_timeout_s: float = STOP_TIMEOUT_S,
    hang_timeout_s: float = HANG_TIMEOUT_S,
    ray_address: str | None = None,
    ray_cpus_per_stream: float = 1.0,
    start: bool = True,
    configs: Sequence[PipelineConfig] | None = None,
    processors: Sequence[ProcessorSpec] | None = None,
) -> StreamsHandle:
    """Start a worker per source and return the handle (see :class:`StreamsHandle`).

    ``processor``: a built-in name, an import path, an importable module-level function, or a
    list of them (each stream builds its own). ``config`` applies to every stream; with several
    streams an ``output`` gets the stream's name (see :func:`stream_output`). ``names``: one per
    source in order (None or missing: the default). ``cv_threads``: OpenCV threads per worker
    (default: the cores shared out). ``restart_attempts``: per stream or for all (default 3 for
    cameras and streams, 0 for files). ``fail_fast``: one failed stream stops the others.
    ``service``: the set runs until stopped, not until every stream has ended (see
    :meth:`StreamsHandle.add_stream` and the other changes a running set takes); it may start
    with no source at all.
    ``log_target``: where workers log (default: through this process's log channel when the
    application configured ``framepipe.logging``, so every stream's records land in its one log;
    else the implicit defaults, in each worker). ``logger``: where the supervisor logs its own
    events (default ``get_logger("framepipe.streams")``). ``hang_timeout_s``: a worker whose
    frame loop makes no progress that long while it runs (a processor that never returns, a
    stopped process) is killed, reported as hung and restarted as a failed one is (0: never;
    at least 3 s, the time three snapshots take; for a live source at least its stall timeout
    and 2 s, since it runs without frames until a stall is noticed).

    ``engine="ray"`` runs each stream in a Ray actor (``pip install 'framepipe[ray]'``):
    ``ray_address`` is the cluster to join (None: a local Ray instance, shut down at the end),
    ``ray_cpus_per_stream`` the CPUs each actor asks for (and the default ``cv_threads``).
    Every actor's log records reach ``logger``'s writer (see ``framepipe.streams.ray_engine``).

    ``start=False``: nothing runs until ``handle.start()``, so ``handle.streams`` can be served
    first (``handle.close()`` instead closes the engine and starts nothing).

    ``configs`` and ``processors``: one per source, each stream's own, in place of ``config``
    and ``processor`` (streams from a config file, each with its settings).

    ValueError for anything malformed, SourceError for a source that does not parse,
    ``RayNotInstalled`` (an ImportError) without Ray, ``RayStartError`` when Ray cannot start
    or the cluster cannot be joined. RuntimeError when called while a worker process imports
    the program's main module (a call outside ``if __name__ == "__main__":``), which would
    otherwise start streams in every worker, and workers in theirs, without end.
    """
    _refuse_in_a_starting_worker()
    if engine != "ray" and (ray_address is not None or ray_cpus_per_stream != 1.0):
        raise ValueError(f"ray_address and ray_cpus_per_stream need engine='ray', not {engine!r}")
    if cv_threads is None and engine == "ray":
        cv_threads = max(1, int(ray_cpus_per_stream))  # the actor's CPUs, not this machine's
    if log_target is None:
        log_target = _parent_log_channel()
    jobs, attempts = _jobs(
        sources, processor, config, names, cv_threads, restart_attempts, log_target,
        service=service,
    )  # fmt: skip
    if configs is not None or processors is not None:
        jobs = _own_settings(jobs, configs, processors)
    options: dict[str, Any] = {}
    if engine == "ray":
        options = dict(
            address=ray_address,
            cpus_per_stream=ray_cpus_per_stream,
            restart_attempts={job.name: n for job, n in zip(jobs, attempts, strict=True)},
            logger=logger,
        )
    made = _make_engine(engine, **options)
    supervisor = LiveSetSupervisor(
        jobs,
        made,
        attempts,
        service=service,
        fail_fast=fail_fast,
        logger=logger,
        stop_timeout_s=stop_timeout_s,
        hang_timeout_s=_seconds_or_off(hang_timeout_s, "hang_timeout_s"),
        log_target=log_target,  # for streams added to a set that started empty
        cv_threads=cv_threads if cv_threads is not None else default_cv_threads(1),
    )
    # An engine made here from its name is closed here (a local Ray instance shut down).
    close = getattr(made, "close", None) if isinstance(engine, str) else None
    return StreamsHandle(
        supervisor, _log_stats(logger), stop_timeout_s, close_engine=close, start=start
    )


def run_streams(
    sources: Sequence[SourceArg],
    processor: ProcessorSpec = None,
    config: PipelineConfig | None = None,
    names: Sequence[str | None] | None = None,
    engine: str | Engine = "local",
    **options: Any,
) -> StreamsReport:
    """Run every source in a worker process of its own until all have ended; the report.

    Takes the arguments of :func:`start_streams`. Ctrl-C (KeyboardInterrupt) stops every stream
    after its current frame before it propagates.
    """
    with start_streams(sources, processor, config, names, engine, **options) as handle:
        report = handle.wait()
    assert report is not None  # wait() without a timeout returns only once it is done
    return report


def _jobs(
    sources: Sequence[SourceArg],
    processor: ProcessorSpec,
    config: PipelineConfig | None,
    names: Sequence[str | None] | None,
    cv_threads: int | None,
    restart_attempts: int | Sequence[int] | None,
    log_target: LogTarget | None,
    *,
    service: bool = False,
) -> tuple[list[StreamJob], list[int]]:
    if isinstance(sources, (str, bytes)) or not isinstance(sources, Sequence):
        raise ValueError(f"sources must be a list of sources, but got {sources!r}")
    if not sources and not service:  # a service may start empty: streams are added later
        raise ValueError(f"sources must be a non-empty list of sources, but got {sources!r}")
    specs = [parse_source(source) for source in sources]
    stream_list = stream_names(sources, names)
    portable = portable_processor(processor)
    if config is None:
        config = PipelineConfig()
    elif not isinstance(config, PipelineConfig):
        raise ValueError(f"config must be a PipelineConfig, but got {config!r}")
    if cv_threads is None:
        cv_threads = default_cv_threads(len(sources))
    elif isinstance(cv_threads, bool) or not isinstance(cv_threads, int) or cv_threads < 1:
        raise ValueError(f"cv_threads must be a positive integer, but got {cv_threads!r}")
    attempts = _restart_attempts(restart_attempts, [spec.is_live for spec in specs])
    jobs = []
    for source, name in zip(sources, stream_list, strict=True):
        stream_config = config
        if config.output is not None and len(sources) > 1:
            stream_config = dataclasses.replace(config, output=stream_output(config.output, name))
        jobs.append(StreamJob(name, source, portable, stream_config, cv_threads, log_target))
    return jobs, attempts


def _own_settings(
    jobs: list[StreamJob],
    configs: Sequence[PipelineConfig] | None,
    processors: Sequence[ProcessorSpec] | None,
) -> list[StreamJob]:
    """Each job with its stream's own config and processor, where given (one per source)."""
    for given, what in ((configs, "configs"), (processors, "processors")):
        if given is not None and len(given) != len(jobs):
            raise ValueError(
                f"{what} must have one item per source ({len(jobs)}), not {len(given)}"
            )
    own = []
    for index, job in enumerate(jobs):
        config = job.config if configs is None else configs[index]
        if not isinstance(config, PipelineConfig):
            raise ValueError(f"configs[{index}] must be a PipelineConfig, but got {config!r}")
        processor = job.processor if processors is None else portable_processor(processors[index])
        own.append(dataclasses.replace(job, config=config, processor=processor))
    return own


def _seconds_or_off(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{name} must be a number of seconds >= 0, but got {value!r}")
    return float(value)


def _restart_attempts(given: int | Sequence[int] | None, live: list[bool]) -> list[int]:
    if given is None:
        return [LIVE_RESTART_ATTEMPTS if is_live else 0 for is_live in live]
    counts = [given] * len(live) if isinstance(given, int) else list(given)
    if len(counts) != len(live) or any(
        isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in counts
    ):
        raise ValueError(
            "restart_attempts must be an integer >= 0, or one per source, "
            f"but got {given!r} for {len(live)} sources"
        )
    return counts


def _parent_log_channel() -> LogTarget | None:
    """This process's log channel, when the application configured its logger; else None."""
    from framepipe.logging import address

    try:
        return LogTarget.channel(address())
    except RuntimeError:  # not configured (or stopped): workers log by the implicit defaults
        return None


def _log_stats(logger: Any) -> Any:
    """What reads the log counters for the report: the given logger's, else the process-wide
    logger's when the application configured one (reading an unconfigured one would start it)."""
    if logger is not None:
        get_stats = getattr(logger, "get_stats", None)
        flush = getattr(logger, "flush", None)
        if get_stats is None:
            return None

        def given() -> Any:
            if flush is not None:
                flush(timeout=5.0)
            return get_stats()

        return given

    def process_wide() -> Any:
        from framepipe.logging import get_logger, is_configured

        if not is_configured():
            return None
        log = get_logger()
        log.flush(timeout=5.0)
        return log.get_stats()

    return process_wide


def _make_engine(engine: str | Engine, **options: Any) -> Engine:
    """The engine a name stands for, or the engine given.

    ``options`` go to the named engine: for ``"ray"``, those of
    :class:`~framepipe.streams.ray_engine.RayEngine` (``address``, ``cpus_per_stream``,
    ``restart_attempts``, ``logger``); the local engine takes none of them.
    """
    if not isinstance(engine, str):
        return engine
    if engine == "local":
        return LocalEngine()
    if engine == "ray":  # Ray itself is imported only when the engine starts
        return RayEngine(**options)
    raise ValueError(f"engine must be one of {', '.join(ENGINES)}, but got {engine!r}")
