"""``framepipe run SOURCE``: one source, processed in this process.

This is the application: the one place that configures logging for a single run (``--log-dir``,
``--log-mode``); the ``Pipeline`` logs through whatever is configured.
"""

from __future__ import annotations

import argparse
import dataclasses

from framepipe._camera import CameraSettings
from framepipe._text import hide_secrets, one_line
from framepipe.cli._args import check_processor_imports, config_from_args
from framepipe.cli._console import EXIT_FAILURE, EXIT_USAGE, fail
from framepipe.cli._finish import finish
from framepipe.cli._monitoring import start_stats_server, stream_name
from framepipe.cli._outputs import check_run_outputs, display_unavailable, single_output
from framepipe.cli._signals import Interrupted, raise_interrupt, stop_on_signals
from framepipe.cli._watchdog import HangWatch
from framepipe.logging import Logger, configure
from framepipe.monitor import StatsServer
from framepipe.monitor.providers import DEFAULT_STREAM
from framepipe.pipeline import Pipeline, PipelineError, PipelineReport, Source
from framepipe.pipeline.output import OutputError
from framepipe.pipeline.progress import ProgressReporter
from framepipe.pipeline.sources import OpenCancelled, SourceError, open_source

__all__ = ["run"]


def run(args: argparse.Namespace, processors: list[str]) -> int:
    """Check, open, configure the log, serve the stats if asked, run, and finish."""
    # Everything a user can get wrong is checked before anything is opened or written.
    try:
        check_run_outputs(args, [args.source], None)
        check_processor_imports(processors)  # now, so a typo costs no camera or stream open
        # ``{stream}`` in --output is the stream's name, as with several sources.
        config = dataclasses.replace(config_from_args(args), output=single_output(args))
    except (SourceError, ValueError) as exc:
        return fail(str(exc), EXIT_USAGE)
    if args.cv_threads is not None:
        import cv2

        cv2.setNumThreads(args.cv_threads)
    no_display = display_unavailable(args)
    if no_display is not None:
        return fail(no_display, EXIT_FAILURE)
    # The source opens before the log file is created, so a source that does not open leaves
    # no empty log behind.
    try:
        source = _open_source(args.source, args.stall_timeout_s, config.camera)
    except SourceError as exc:
        return fail(str(exc), EXIT_FAILURE)
    progress = None if args.quiet else ProgressReporter()
    try:
        # The pipeline logs through get_logger("framepipe.pipeline"), which follows the
        # configure() below; building it first means a bad option leaves no empty log file.
        pipeline = Pipeline(
            source,
            processor=processors,
            config=config,
            progress=progress,
            stream=stream_name(args, DEFAULT_STREAM),  # what results lines say
        )
    except ValueError as exc:
        source.release()
        return fail(str(exc), EXIT_USAGE)
    try:
        log = configure(
            log_dir=args.log_dir, mode=args.log_mode, stream=stream_name(args, None)
        )
    except (ValueError, OSError) as exc:
        source.release()
        return fail(f"--log-dir {args.log_dir}: {exc}", EXIT_USAGE)
    server: StatsServer | None = None
    try:
        if args.stats_port is not None:
            try:
                server = start_stats_server(
                    args, log, {stream_name(args, DEFAULT_STREAM): pipeline}
                )
            except (OSError, RuntimeError) as exc:
                source.release()
                return fail(f"--stats-port {args.stats_port}: {exc}", EXIT_FAILURE)
        return _run_pipeline(args, pipeline, progress, log)
    finally:
        if server is not None:
            server.stop()
        log.stop()


def _open_source(
    spec: str | None, stall_timeout_s: float, camera: CameraSettings | None = None
) -> Source:
    """Open the source; a stop signal while a camera or stream opens ends the wait."""
    with stop_on_signals(stop=lambda signum: None, abort=raise_interrupt) as received:
        try:
            return open_source(
                spec,
                read_timeout_s=stall_timeout_s,
                cancelled=lambda: bool(received),
                camera=camera,
            )
        except Interrupted:  # a second signal, raised by the handler in the wait
            raise OpenCancelled(f"stopped while opening {spec}") from None


def _run_pipeline(
    args: argparse.Namespace,
    pipeline: Pipeline,
    progress: ProgressReporter | None,
    log: Logger,
) -> int:
    report: PipelineReport | None = None
    failure: str | None = None
    watch = HangWatch(pipeline, args.hang_timeout_s, log)

    def stop(signum: int) -> None:
        if watch.hung:  # the frame in hand will not end by itself: interrupt it
            raise_interrupt(signum)
        pipeline.stop()

    with watch, stop_on_signals(stop=stop, abort=raise_interrupt) as received:
        try:
            report = pipeline.run()
        except (SourceError, OutputError) as exc:
            failure = str(exc)
        except PipelineError as exc:
            failure, report = str(exc), exc.report
        except Interrupted:
            if not watch.hung:
                raise  # a second stop signal: the user will not wait
            report = _hung_report(pipeline)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit or a bare BaseException out of a processor
            failure, report = _out_of_band(pipeline, exc, log)
        finally:
            if progress is not None:
                try:
                    progress.close()
                except OSError:
                    pass  # the terminal is gone (SIGHUP): the summary still gets written
    if received:
        log.info("stopped by %s", received[0])
        log.flush(timeout=5.0)
    problems = [failure] if failure is not None else []
    verdict = []
    if report is not None and failure is None and report.truncation_error is not None:
        verdict.append(report.truncation_error)
    if report is not None:  # a stream named with --name says so, as in the log and metrics
        report = dataclasses.replace(report, stream=stream_name(args, None))
    return finish(report, args.summary_json, problems, verdict)


def _hung_report(pipeline: Pipeline) -> PipelineReport:
    """The summary of a run stopped while its frame loop hung: what its last snapshot tells."""
    report = PipelineReport.from_snapshot(
        pipeline.snapshot().without_frame(),
        source=hide_secrets(str(pipeline.source)),
        processor=pipeline.processor_name,
    )
    return dataclasses.replace(report, end_reason="stopped")


def _out_of_band(pipeline: Pipeline, exc: BaseException, log: Logger) -> tuple[str, PipelineReport]:
    """A run a processor ended with something no ``except Exception`` stops (``sys.exit()`` in a
    library, a bare BaseException): a processor failure, with what its last snapshot tells."""
    log.error("processor failed: %s", one_line(exc), exc_info=exc)
    report = PipelineReport.from_snapshot(
        pipeline.snapshot().without_frame(),
        source=hide_secrets(str(pipeline.source)),
        processor=pipeline.processor_name,
    )
    done = f"after {report.frames_processed} processed frames"
    return f"processor failed: {one_line(exc)} {done}", report
