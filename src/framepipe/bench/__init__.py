"""The benchmark harness behind ``framepipe bench``: what logging costs a frame loop.

One job per module: ``workload`` (frames decoded once into memory, the processor), ``sinks``
(file, fsync and slow:MS handlers that count what they wrote), ``modes`` (none, sync, async,
stdlib-queue, loguru, picologging with start/drain/stop), ``loop`` (the timed frame loop with an
injected clock), ``stats`` (frame and call summaries), ``runner`` (interleaved runs), ``rows``
(one typed row per measured cell), ``report`` (table, verdicts, JSON), ``plot`` (PNG, needs
matplotlib). The ``framepipe bench`` command itself is :mod:`framepipe.cli.bench`.
"""
