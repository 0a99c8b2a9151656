"""Argument types the commands share, and flags that fill a ``PipelineConfig``.

The argument types parse or raise ValueError saying what was expected; ``argparse_type`` turns
such a parser into an argparse ``type=`` whose message argparse prints as the usage error (a
plain ValueError would become "invalid <name> value"). ``add_parsed_option`` adds a flag
parsed that way, and ``add_budget_ms`` the per-frame budget both subcommands take.
``add_engine_arguments`` adds where streams run (``--engine``, ``--ray-address``,
``--ray-cpus-per-stream``) and ``engine_flags_usage`` says when Ray's flags cannot apply.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import TypeVar

from framepipe._camera import CameraSettings, check_camera_fps
from framepipe.pipeline import PipelineConfig
from framepipe.pipeline.processors import check_processor
from framepipe.streams.engine import ENGINES
from framepipe.streams.ray_engine import RAY_INSTALL_HINT, parse_ray_address

__all__ = [
    "add_budget_ms",
    "add_engine_arguments",
    "add_parsed_option",
    "argparse_type",
    "camera_fps",
    "camera_from_args",
    "check_processor_imports",
    "config_from_args",
    "engine_flags_usage",
    "non_negative_float",
    "non_negative_int",
    "port_number",
    "positive_cpus",
    "positive_float",
    "positive_int",
]

T = TypeVar("T")


def non_negative_int(text: str) -> int:
    """A count that may be 0 (``--reconnect-attempts 0``: none)."""
    return _int_in_range(text, 0, None, "an integer >= 0")


def port_number(text: str) -> int:
    """A TCP port; 0 asks the system for a free one."""
    return _int_in_range(text, 0, 65535, "a port number from 0 to 65535")


def _int_in_range(text: str, low: int, high: int | None, expected: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        raise ValueError(f"must be {expected}, but got {text!r}")
    return value


def positive_int(text: str) -> int:
    """A count from 1 up."""
    return _int_in_range(text, 1, None, "a positive integer")


def non_negative_float(text: str) -> float:
    """Seconds that may be 0 (``--hang-timeout-s 0``: off)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"must be a number >= 0, but got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"must be a number >= 0, but got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise ValueError(f"must be a positive number, but got {text!r}")
    return value


def argparse_type(parse: Callable[[str], T]) -> Callable[[str], T]:
    """Wrap ``parse`` so that its ValueError message is what argparse reports."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


def add_parsed_option(
    parser: argparse.ArgumentParser,
    flag: str,
    parse: Callable[[str], T],
    *,
    default: T | None,
    metavar: str,
    help: str,
) -> None:
    """Add ``flag`` whose text ``parse`` turns into the value; its ValueError is the usage error."""
    parser.add_argument(
        flag, type=argparse_type(parse), default=default, metavar=metavar, help=help
    )


def add_budget_ms(parser: argparse.ArgumentParser, *, default: float | None, help: str) -> None:
    """Add ``--budget-ms MS``: the per-frame budget in milliseconds, positive and finite."""
    add_parsed_option(
        parser, "--budget-ms", positive_float, default=default, metavar="MS", help=help
    )


def positive_cpus(text: str) -> float:
    """A positive, finite number of CPUs (fractions allowed)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"must be a positive number of CPUs, but got {text!r}")
    return value


def add_engine_arguments(parser: argparse.ArgumentParser, *, cpus_also: str = "") -> None:
    """Add ``--engine``, ``--ray-address`` and ``--ray-cpus-per-stream``: where streams run.
    ``cpus_also``: what else ``--ray-cpus-per-stream`` sets, in a few words."""
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="where streams run: 'local', a worker process each (the default), or 'ray', "
        f"a Ray actor each, on a Ray cluster or a local Ray instance ({RAY_INSTALL_HINT})",
    )
    add_parsed_option(
        parser,
        "--ray-address",
        parse_ray_address,
        default=None,
        metavar="ADDR",
        help="with --engine ray: the cluster to join ('auto', 'ray://host:10001'); default: "
        "start a local Ray instance and shut it down at the end",
    )
    add_parsed_option(
        parser,
        "--ray-cpus-per-stream",
        positive_cpus,
        default=None,
        metavar="N",
        help="with --engine ray: CPUs each stream's actor takes (default 1"
        + (f"; {cpus_also})" if cpus_also else ")"),
    )


def engine_flags_usage(args: argparse.Namespace) -> str | None:
    """``"--ray-address needs --engine ray"`` for a Ray flag given without the Ray engine;
    None when the flags go together."""
    if args.engine == "ray":
        return None
    for flag, value in (
        ("--ray-address", args.ray_address),
        ("--ray-cpus-per-stream", args.ray_cpus_per_stream),
    ):
        if value is not None:
            return f"{flag} needs --engine ray"
    return None


def config_from_args(args: argparse.Namespace) -> PipelineConfig:
    """Every ``PipelineConfig`` field that has a flag of the same name, from that flag.

    Raises ValueError (from ``PipelineConfig``'s own checks) for values that do not go together.
    """
    values = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(PipelineConfig)
        if hasattr(args, field.name)
    }
    return PipelineConfig(**values, camera=camera_from_args(args))


def camera_fps(text: str) -> float:
    """``--camera-fps``: a rate a camera can be asked for."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"must be a number of frames per second, but got {text!r}") from None
    return check_camera_fps(value)


def camera_from_args(args: argparse.Namespace) -> CameraSettings | None:
    """``--camera-size``, ``--camera-fps`` and ``--camera-fourcc`` as one value (None: none)."""
    settings = CameraSettings(
        size=getattr(args, "camera_size", None),
        fps=getattr(args, "camera_fps", None),
        fourcc=getattr(args, "camera_fourcc", None),
    )
    return None if settings.is_empty else settings


def check_processor_imports(processors: Sequence[str]) -> None:
    """Import what ``--processor`` names (``check_processor``): ValueError if it does not.

    A module that calls ``sys.exit()`` while it imports is a module that does not import, not
    the end of the command.
    """
    for spec in processors:
        try:
            check_processor([spec])
        except SystemExit as exc:
            module = spec.partition(":")[0]
            raise ValueError(
                f"processor {spec!r}: cannot import module {module!r} "
                f"(it called sys.exit({exc.code!r}))"
            ) from None
