"""Tests for framepipe.pipeline.config: one validated, picklable value for a run's settings."""

from __future__ import annotations

import dataclasses
import pickle
import re
import typing
from pathlib import Path

import pytest

from framepipe import PipelineConfig
from framepipe.pipeline.config import _CHECKS, PipelineOptions


class TestPipelineConfig:
    def test_the_defaults_are_the_documented_ones(self) -> None:
        """No argument: the budget follows the source, every frame is processed, nothing shown,
        a live source reconnects for ever, and a processor exception stops the run."""
        assert PipelineConfig() == PipelineConfig(
            budget_ms=None,
            log_every=30,
            output=None,
            display=False,
            realtime=False,
            drop_policy=None,
            max_frames=None,
            buffer_size=4,
            open_timeout_s=10.0,
            miss_streak_warning=5,
            stall_timeout_s=5.0,
            reconnect_attempts=None,
            reconnect_max_s=30.0,
            on_error="stop",
            max_consecutive_failures=30,
        )

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("budget_ms", 0, "budget_ms must be positive and finite, but got 0"),
            ("budget_ms", -5.0, "budget_ms must be positive and finite, but got -5.0"),
            ("budget_ms", float("inf"), "budget_ms must be positive and finite, but got inf"),
            ("budget_ms", float("nan"), "budget_ms must be positive and finite, but got nan"),
            ("budget_ms", "20", "budget_ms must be positive and finite, but got '20'"),
            ("log_every", 0, "log_every must be a positive integer, but got 0"),
            ("log_every", 2.5, "log_every must be a positive integer, but got 2.5"),
            ("log_every", True, "log_every must be a positive integer, but got True"),
            ("output", "out.gif", "output file extension must be one of .mp4, .m4v, .mov, .avi, "
             ".mkv, but got 'out.gif'"),
            ("output", 42, "output must be a path or None, but got 42"),
            ("display", "yes", "display must be True or False, but got 'yes'"),
            ("realtime", 1, "realtime must be True or False, but got 1"),
            ("drop_policy", "oldest", "drop_policy must be one of block, latest, but got 'oldest'"),
            ("max_frames", 0, "max_frames must be a positive integer, but got 0"),
            ("max_frames", -2, "max_frames must be a positive integer, but got -2"),
            ("buffer_size", 0, "buffer_size must be a positive integer, but got 0"),
            ("open_timeout_s", 0, "open_timeout_s must be positive and finite, but got 0"),
            ("open_timeout_s", float("nan"),
             "open_timeout_s must be positive and finite, but got nan"),
            ("miss_streak_warning", 0, "miss_streak_warning must be a positive integer, but got 0"),
            ("stall_timeout_s", 0, "stall_timeout_s must be positive and finite, but got 0"),
            ("stall_timeout_s", float("inf"),
             "stall_timeout_s must be positive and finite, but got inf"),
            ("reconnect_attempts", -1,
             "reconnect_attempts must be an integer >= 0 or None, but got -1"),
            ("reconnect_attempts", 2.0,
             "reconnect_attempts must be an integer >= 0 or None, but got 2.0"),
            ("reconnect_max_s", -1.0, "reconnect_max_s must be positive and finite, but got -1.0"),
            ("on_error", "ignore", "on_error must be one of stop, skip, but got 'ignore'"),
            ("max_consecutive_failures", 0,
             "max_consecutive_failures must be a positive integer, but got 0"),
        ],
    )  # fmt: skip
    def test_each_bad_value_is_a_value_error_saying_what_was_expected_and_got(
        self, field: str, value: object, message: str
    ) -> None:
        """Every field is checked when the config is made, with expected-versus-actual text."""
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            PipelineConfig(**{field: value})  # type: ignore[arg-type]

    def test_every_field_has_a_check_and_a_keyword_form(self) -> None:
        """A field added later cannot skip validation or the Pipeline(**options) typing."""
        names = [field.name for field in dataclasses.fields(PipelineConfig)]
        assert sorted(_CHECKS) == sorted(names)
        assert sorted(typing.get_type_hints(PipelineOptions)) == sorted(names)

    def test_a_config_is_frozen(self) -> None:
        """A config cannot change under a running pipeline."""
        config = PipelineConfig()
        with pytest.raises(dataclasses.FrozenInstanceError):
            config.budget_ms = 5.0  # type: ignore[misc]

    def test_a_config_survives_pickling_unchanged(self, tmp_path: Path) -> None:
        """Sent to another process, a config arrives equal, every field included."""
        config = PipelineConfig(
            budget_ms=20.0,
            log_every=10,
            output=tmp_path / "out.mp4",
            display=False,
            realtime=True,
            drop_policy="latest",
            max_frames=100,
            buffer_size=8,
            open_timeout_s=3.0,
            miss_streak_warning=2,
            stall_timeout_s=2.0,
            reconnect_attempts=3,
            reconnect_max_s=4.0,
            on_error="skip",
            max_consecutive_failures=7,
        )
        copy = pickle.loads(pickle.dumps(config))
        assert copy == config
        assert copy is not config

    def test_replace_varies_one_field_and_checks_again(self) -> None:
        """dataclasses.replace gives a new config; a bad replacement is refused the same way."""
        config = PipelineConfig(budget_ms=20.0, max_frames=10)
        faster = dataclasses.replace(config, budget_ms=10.0)
        assert (faster.budget_ms, faster.max_frames) == (10.0, 10)
        assert config.budget_ms == 20.0
        with pytest.raises(ValueError, match="max_frames must be a positive integer, but got 0"):
            dataclasses.replace(config, max_frames=0)

    def test_an_output_whose_directory_is_elsewhere_is_a_valid_value(self) -> None:
        """The config checks the output's form only: where it can be written is the running
        pipeline's business (a config may be built on one machine and run on another)."""
        config = PipelineConfig(output="/no/such/dir/out.mp4")
        assert config.output == "/no/such/dir/out.mp4"
