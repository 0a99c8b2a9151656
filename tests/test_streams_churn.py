"""Churn: streams added to and removed from one running set, hundreds of times, leave nothing
behind: no memory growth past a bound, no thread, descriptor, process or shared memory."""

from __future__ import annotations

import time

import psutil
import pytest

from framepipe import PipelineConfig
from framepipe.streams import LocalEngine, start_streams
from framepipe.streams._live_set import LiveSetSupervisor
from helpers import process_resources, settled_back, wait_until
from shm_watch import SharedMemoryWatch

PACED = "synthetic:64x48@30:600"  # with realtime=True: ten minutes unless stopped
REALTIME = PipelineConfig(realtime=True)
CYCLES = 200  # adds and removes of a stream
AT_ONCE = 4  # added together, removed together
RSS_BOUND = 20 * 2**20
WAIT_S = 60.0

pytestmark = pytest.mark.usefixtures("logs_in_tmp")


@pytest.mark.timeout(600)  # about 80 s at a load average of 5 on 2 cores; far more when busier
def test_200_streams_added_and_removed_leave_nothing_behind(own_shm: SharedMemoryWatch) -> None:
    """A set with one untouched stream takes 200 add/remove cycles (4 streams at a time, each
    run to its first frame and watched for previews): afterwards its RSS has grown by at most
    20 MB, it has the threads, descriptors and child processes it had after the first round,
    its processes left no entry in /dev/shm, the supervisor holds only the untouched stream,
    and that stream ran all along with its first worker."""
    me = psutil.Process()
    engine = LocalEngine("forkserver")  # forks a warm process: seconds, not minutes, of churn
    with start_streams([PACED], config=REALTIME, names=["base"], engine=engine,
                       service=True) as handle:  # fmt: skip
        supervisor = handle._supervisor
        assert isinstance(supervisor, LiveSetSupervisor)
        base = handle.streams["base"]
        wait_until(lambda: base.snapshot().frames_processed, "the first frame of base", WAIT_S)
        base_pid = base.pid
        assert base_pid is not None
        before: dict[str, int] = {}
        rss_before = 0
        started = time.monotonic()
        for round_ in range(CYCLES // AT_ONCE):
            names = [f"churn-{round_}-{index}" for index in range(AT_ONCE)]
            for name in names:
                handle.add_stream(name, PACED, config=REALTIME)

            def running(names: list[str] = names) -> bool:
                return all(handle.streams[name].snapshot().frames_processed for name in names)

            def progress(round_: int = round_) -> str:
                return f"round {round_}'s first frames: {handle.list_streams()}"

            wait_until(running, progress, timeout=WAIT_S, interval=0.02)
            for name in names:
                handle.streams[name].want_preview()
            for name in names:
                result = handle.remove_stream(name)
                assert result.ok and result.ended == "stopped", result
            if round_ == 0:  # the forkserver and what the first round starts, started once
                before = process_resources(me)
                rss_before = me.memory_info().rss
        duration = time.monotonic() - started
        after = settled_back(lambda: process_resources(me), before)
        grown = me.memory_info().rss - rss_before
        assert list(handle.streams) == ["base"] and list(supervisor._streams) == ["base"]
        assert not supervisor._removing and not supervisor._restarting
        assert not supervisor._stop_asked
        assert handle.streams["base"].pid == base_pid
        assert handle.list_streams()[0].state == "running"
    print(f"{CYCLES} cycles in {duration:.1f} s, RSS grew {grown / 2**20:.1f} MB, {after}")
    assert grown <= RSS_BOUND, f"RSS grew by {grown / 2**20:.1f} MB"
    wait_until(lambda: not own_shm.left(), lambda: f"left in /dev/shm: {own_shm.left()}", 10.0)
