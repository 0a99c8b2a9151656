"""The documentation stays true to the program: README.md and the MkDocs site in docs/.

Each test asks the program itself (its ``--help``, the JSON of a real run, a real stats server)
and compares with what the pages say, so that a renamed flag, a new summary key or a moved page
fails here instead of misleading a reader. The README's shell examples run as written, in a copy
of the repository's files, the way a fresh clone would run them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import unicodedata
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helpers import wait_until

PROJECT = Path(__file__).resolve().parent.parent
README = PROJECT / "README.md"
DOCS = PROJECT / "docs"
CLI_PAGE = DOCS / "cli.md"
LOGGING_PAGE = DOCS / "logging.md"
MONITORING_PAGE = DOCS / "monitoring.md"
README_MAX_LINES = 150
# The README's first code block: .ci/run executes its second line.
README_FIRST_BLOCK = ["pip install -e . && framepipe run", "pip install -e '.[test]' && pytest"]

SHORT = "synthetic:160x120@30:1"  # 30 frames, as fast as they go
PACED = "synthetic:160x120@30:6"  # with --realtime: 6 s, long enough to be asked while it runs

FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
FENCE = re.compile(r"^(```|~~~)")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")


def framepipe(*args: str, cwd: Path | None = None, timeout: float = 60) -> str:
    """Run ``python -m framepipe ARGS`` (whatever module holds the CLI) and return stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "framepipe", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )
    assert done.returncode == 0, (
        f"framepipe {' '.join(args)}: exit {done.returncode}\n{done.stderr}"
    )
    return done.stdout


def without_code_blocks(text: str) -> str:
    """The Markdown outside fenced code blocks (links and headings there are only text)."""
    kept: list[str] = []
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            kept.append(line)
    return "\n".join(kept)


def code_spans(page: Path) -> set[str]:
    """Every inline code span of a page, as written: what names a key or a flag in prose."""
    return set(CODE_SPAN.findall(page.read_text(encoding="utf-8")))


def section(page: Path, heading: str) -> str:
    """The text under ``## heading`` up to the next heading of the same or a higher level."""
    lines = page.read_text(encoding="utf-8").splitlines()
    assert heading in lines, f"{page.name} has no heading {heading!r}"
    start = lines.index(heading)
    level = len(heading) - len(heading.lstrip("#"))
    body: list[str] = []
    for line in lines[start + 1 :]:
        marks = len(line) - len(line.lstrip("#"))
        if 0 < marks <= level and line[marks : marks + 1] == " ":
            break
        body.append(line)
    return "\n".join(body)


def keys(value: Any) -> Iterator[tuple[str, str]]:
    """``(path, key)`` for every key of a JSON value, nested dicts and lists of dicts included."""

    def walk(node: Any, path: str) -> Iterator[tuple[str, str]]:
        if isinstance(node, dict):
            for key, child in node.items():
                yield f"{path}.{key}" if path else key, key
                yield from walk(child, f"{path}.{key}" if path else key)
        elif isinstance(node, list):
            for child in node:
                yield from walk(child, f"{path}[]")

    yield from walk(value, "")


def undocumented(value: Any, page: Path, *, skip_under: tuple[str, ...] = ()) -> list[str]:
    """The key paths of ``value`` whose key is not a code span of ``page``."""
    documented = code_spans(page)
    return sorted(
        path
        for path, key in keys(value)
        if key not in documented and not any(path.startswith(p + ".") for p in skip_under)
    )


# --- the flags -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "bench", "serve"])
class TestCommandLinePage:
    """docs/cli.md names every flag of each command, and no flag the command does not have."""

    def test_documents_every_flag_the_help_lists(self, command: str) -> None:
        """A flag ``framepipe COMMAND --help`` lists and the command's section does not name
        is a flag a reader cannot find."""
        helped = set(FLAG.findall(framepipe(command, "--help"))) - {"--help"}
        written = set(FLAG.findall(section(CLI_PAGE, f"## framepipe {command}")))
        assert helped, f"framepipe {command} --help lists no flags"
        assert not helped - written, f"not in docs/cli.md ## framepipe {command}"

    def test_names_only_flags_the_command_has(self, command: str) -> None:
        """A flag the command's section names must be one the command accepts."""
        helped = set(FLAG.findall(framepipe(command, "--help")))
        written = set(FLAG.findall(section(CLI_PAGE, f"## framepipe {command}")))
        assert not written - helped, f"docs/cli.md names flags framepipe {command} lacks"


def test_the_command_line_page_names_no_flag_that_does_not_exist() -> None:
    """Outside the commands' sections too (exit codes, output paths), every flag exists."""
    existing = {"--help", "--version"}
    for command in ("run", "bench", "serve"):
        existing |= set(FLAG.findall(framepipe(command, "--help")))
    written = set(FLAG.findall(CLI_PAGE.read_text(encoding="utf-8")))
    assert not written - existing


# --- the summary JSON ------------------------------------------------------------------------


class TestSummaryKeys:
    """Every key of a real run's --summary-json is documented: the run's own keys in
    docs/cli.md, the logger's counters (``log``) in docs/logging.md."""

    def test_one_source(self, tmp_path: Path) -> None:
        """One source: the flat summary. Its --log-dir does not exist yet: the docs say it is
        created, parents included."""
        summary, log_dir = tmp_path / "run.json", tmp_path / "new" / "logs"
        framepipe(
            "run", SHORT, "--quiet", "--summary-json", str(summary), "--log-dir", str(log_dir)
        )
        report = json.loads(summary.read_text())
        assert "frames_processed" in report and "streams" not in report
        assert not undocumented(report, CLI_PAGE, skip_under=("log",))
        assert not undocumented(report["log"], LOGGING_PAGE)
        assert log_dir.is_dir() and list(log_dir.glob("logs_*.txt"))

    def test_one_named_source(self, tmp_path: Path) -> None:
        """One source with --name: the flat summary names its stream, as the log and the
        metrics do."""
        summary = tmp_path / "run.json"
        framepipe("run", SHORT, "--quiet", "--name", "door", "--summary-json", str(summary),
                  "--log-dir", str(tmp_path / "logs"))  # fmt: skip
        report = json.loads(summary.read_text())
        assert report["stream"] == "door"
        assert not undocumented(report, CLI_PAGE, skip_under=("log",))

    def test_several_sources(self, tmp_path: Path) -> None:
        """Two sources: ``streams``, ``total`` and the parent's ``log``, another shape."""
        summary = tmp_path / "run.json"
        framepipe(
            "run", SHORT, SHORT, "--quiet", "--summary-json", str(summary),
            "--log-dir", str(tmp_path / "logs"),
        )  # fmt: skip
        report = json.loads(summary.read_text())
        assert set(report) == {"streams", "total", "log"} and len(report["streams"]) == 2
        assert not undocumented(report, CLI_PAGE, skip_under=("log", "streams[].log"))
        assert not undocumented(report["log"], LOGGING_PAGE)
        for stream in report["streams"]:
            assert not undocumented(stream["log"], LOGGING_PAGE)


class TestPacing:
    """What the docs say a user can expect of the run's length: the built-in scene's 300
    frames go as fast as the machine allows, and --realtime paces a scene at its frame rate."""

    def test_the_default_run_is_300_frames_not_paced(self, tmp_path: Path) -> None:
        summary = tmp_path / "run.json"
        framepipe("run", "--quiet", "--summary-json", str(summary), "--log-dir", str(tmp_path))
        report = json.loads(summary.read_text())
        assert report["source"] == "synthetic:1280x720@30:10"
        assert report["frames_processed"] == 300
        assert report["duration_s"] < 9.0, "10 s of content, not paced: well under 10 s"
        assert "300 frames" in README.read_text() and "--realtime" in README.read_text()

    def test_realtime_paces_the_scene_at_its_frame_rate(self, tmp_path: Path) -> None:
        summary = tmp_path / "run.json"
        framepipe(
            "run", "synthetic:160x120@30:2", "--realtime", "--quiet",
            "--summary-json", str(summary), "--log-dir", str(tmp_path),
        )  # fmt: skip
        report = json.loads(summary.read_text())
        assert report["frames_processed"] == 60
        assert report["duration_s"] >= 1.8, "60 frames at 30 FPS take about 2 s"


# --- /system-resources -----------------------------------------------------------------------


def served_document(args: list[str], tmp_path: Path, *, ready: str) -> dict[str, Any]:
    """Start ``framepipe run ARGS --stats-port 0`` on 127.0.0.1 and read /system-resources
    once the document has ``ready`` with frames processed; the run is stopped afterwards."""
    command = [
        sys.executable, "-m", "framepipe", "run", *args, "--realtime", "--quiet",
        "--stats-port", "0", "--stats-host", "127.0.0.1", "--log-dir", str(tmp_path / "logs"),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
    try:
        assert process.stderr is not None
        found = None
        for _ in range(20):  # the address line, past anything printed before it
            line = process.stderr.readline()
            found = re.search(r"http://127\.0\.0\.1:\d+", line)
            if found or not line:
                break
        assert found, f"no stats server address on stderr (exit {process.poll()})"
        url = found.group(0) + "/system-resources"
        document: dict[str, Any] = {}

        def has_frames() -> dict[str, Any] | None:
            nonlocal document
            try:
                with no_proxy.open(url, timeout=5) as answer:
                    document = json.load(answer)
            except OSError:  # not answering yet
                document = {}
            entries = document.get(ready)
            entries = entries if isinstance(entries, list) else [entries]
            if all(entry and entry.get("frames_processed", 0) > 0 for entry in entries):
                return document
            return None

        return wait_until(
            has_frames, lambda: f"{ready} with frames: {document}", timeout=30, interval=0.2
        )
    finally:
        process.terminate()
        process.wait(timeout=30)


class TestSystemResourcesKeys:
    """Every key of a real stats server's /system-resources is in docs/monitoring.md."""

    def test_one_stream(self, tmp_path: Path) -> None:
        document = served_document([PACED], tmp_path, ready="pipeline")
        assert "streams" not in document
        assert not undocumented(document, MONITORING_PAGE)

    def test_several_streams(self, tmp_path: Path) -> None:
        document = served_document([PACED, PACED], tmp_path, ready="streams")
        assert len(document["streams"]) == 2
        assert not undocumented(document, MONITORING_PAGE)


# --- links and anchors -----------------------------------------------------------------------


def markdown_text(heading: str) -> str:
    """A heading's text as rendered: code marks, emphasis and link targets gone."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return re.sub(r"[`*_]", "", text).strip()


def mkdocs_slug(text: str) -> str:
    """Python-Markdown's toc slugify, which MkDocs uses for the site's anchors."""
    value = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value).strip().lower()
    return re.sub(r"[-\s]+", "-", value)


def github_slug(text: str) -> str:
    """GitHub's heading anchors, which a reader of the README and the pages there follows."""
    value = re.sub(r"[^\w\- ]", "", text.lower())
    return value.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Anchors that both MkDocs and GitHub give this page's headings (duplicates numbered the
    way each numbers them, so a link to a duplicate resolves in neither)."""
    found: dict[str, set[str]] = {"mkdocs": set(), "github": set()}
    for line in without_code_blocks(page.read_text(encoding="utf-8")).splitlines():
        heading = re.match(r"^#{1,6} (.+?)\s*#*\s*$", line)
        if not heading:
            continue
        text = markdown_text(heading.group(1))
        for kind, slug, suffix in (("mkdocs", mkdocs_slug, "_"), ("github", github_slug, "-")):
            anchor, number = slug(text), 0
            while anchor in found[kind]:
                number += 1
                anchor = f"{slug(text)}{suffix}{number}"
            found[kind].add(anchor)
    return found["mkdocs"] & found["github"]


PAGES = [README, *sorted(DOCS.rglob("*.md"))]


@dataclass(frozen=True)
class Link:
    page: Path
    target: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(PROJECT)}: {self.target}"


def relative_links(page: Path) -> list[Link]:
    text = without_code_blocks(page.read_text(encoding="utf-8"))
    text = CODE_SPAN.sub("", text)
    return [
        Link(page, target)
        for target in LINK.findall(text)
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # https:, mailto:
    ]


def broken(link: Link) -> str | None:
    """Why a relative link does not resolve, or None."""
    path, _, anchor = link.target.partition("#")
    target = (link.page.parent / path).resolve() if path else link.page
    if not target.exists():
        return "no such file"
    if PROJECT not in target.parents and target != PROJECT:
        return "outside the repository"
    if link.page.is_relative_to(DOCS) and not target.is_relative_to(DOCS):
        return "a page of the site links outside docs/, which the site does not have"
    if anchor:
        if target.suffix != ".md":
            return "an anchor into a file that is not a page"
        if anchor not in anchors(target):
            return f"no heading with the anchor #{anchor}"
    return None


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(PROJECT)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    """A link to a file, a heading of a page or a heading of the same page leads there."""
    problems = [f"{link}: {why}" for link in relative_links(page) if (why := broken(link))]
    assert not problems


def test_the_link_check_sees_a_broken_anchor(tmp_path: Path) -> None:
    """The check itself: a missing anchor and a missing file are caught, a good one is not."""
    page = DOCS / "index.md"
    assert broken(Link(page, "cli.md#exit-codes")) is None
    assert broken(Link(page, "cli.md#no-such-heading")) is not None
    assert broken(Link(page, "no-such-page.md")) is not None


# --- the site --------------------------------------------------------------------------------


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """``mkdocs build --strict``: every page in the nav, no broken link or anchor, no warning."""
    for module in ("mkdocs", "material"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install -e '.[docs]'); .ci/run builds")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "cli" / "index.html").is_file()


# --- the README ------------------------------------------------------------------------------


def code_blocks(page: Path, *languages: str) -> list[tuple[int, list[str]]]:
    """``(first line number, lines)`` of each fenced block whose language is in ``languages``."""
    blocks: list[tuple[int, list[str]]] = []
    language: str | None = None  # the open block's language; None outside a block
    start = 0
    lines: list[str] = []
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        fence = re.match(r"^```\s*([\w-]*)", line)
        if fence and language is None:
            language, start, lines = fence.group(1), number + 1, []
        elif fence:
            if language in languages:
                blocks.append((start, lines))
            language = None
        elif language is not None:
            lines.append(line)
    return blocks


def test_the_readme_is_short_and_starts_with_the_two_commands() -> None:
    """At most 150 lines, and the first code block is the install-and-run and the test command
    (.ci/run executes the second line)."""
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES
    first = code_blocks(README, "bash", "sh", "")[0][1]
    assert first == README_FIRST_BLOCK


@dataclass(frozen=True)
class ShellExample:
    line: int
    command: str

    @property
    def needs(self) -> str | None:
        """What the trailing ``# needs ...`` comment says the example needs, if it has one."""
        found = re.search(r"#\s*(needs .+)$", self.command)
        return found.group(1) if found else None

    def runnable(self) -> tuple[str, list[str]]:
        """The part to run, and why the rest is not: installing changes the environment every
        test shares (.ci/run installs), and ``pytest`` is the suite this test is part of."""
        parts = [part.strip() for part in self.command.split("&&")]
        skipped = [
            part
            for part in parts
            if part.startswith(("pip install", "python -m pip install")) or part == "pytest"
        ]
        return " && ".join(part for part in parts if part not in skipped), skipped


def shell_examples(page: Path) -> list[ShellExample]:
    """Each command of the page's shell blocks (a line ending in a backslash goes on)."""
    examples: list[ShellExample] = []
    for start, block in code_blocks(page, "bash", "sh", "shell", "console"):
        pending: tuple[int, str] | None = None
        for offset, raw in enumerate(block):
            line = raw.strip()
            if pending is None and (not line or line.startswith("#")):
                continue
            first, text = pending or (start + offset, "")
            text = f"{text} {line}".strip()
            if text.endswith("\\"):
                pending = (first, text[:-1].strip())
                continue
            examples.append(ShellExample(first, text))
            pending = None
    return examples


README_SHELL = shell_examples(README)


@pytest.fixture
def fresh_clone(tmp_path: Path) -> Path:
    """The repository's files, as a fresh clone has them, in a temporary directory; the
    ``framepipe`` on PATH there is this interpreter's."""
    clone = tmp_path / "clone"
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=PROJECT, capture_output=True, check=False
    )
    if listed.returncode == 0 and listed.stdout:
        for name in listed.stdout.decode().split("\0"):
            source = PROJECT / name
            if name and source.is_file():
                (clone / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, clone / name)
    else:  # not a git checkout (an unpacked archive): the tree without what runs leave behind
        shutil.copytree(
            PROJECT,
            clone,
            ignore=shutil.ignore_patterns(".git", "logs", "__pycache__", "*.egg-info"),
        )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "framepipe"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m framepipe "$@"\n')
    shim.chmod(0o755)
    return clone


@pytest.mark.parametrize("example", README_SHELL, ids=lambda example: f"line{example.line}")
def test_every_readme_shell_example_runs_from_a_fresh_clone(
    example: ShellExample, fresh_clone: Path
) -> None:
    """Each command line of the README's shell blocks exits 0 in a fresh clone."""
    if example.needs:
        pytest.skip(f"README line {example.line} {example.needs}")
    command, skipped = example.runnable()
    if not command:
        pytest.skip(f"README line {example.line}: {', '.join(skipped)} (run by .ci/run)")
    path = f"{fresh_clone.parent / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=fresh_clone,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
        env={**os.environ, "PATH": path},
    )
    assert done.returncode == 0, f"{command}: exit {done.returncode}\n{done.stderr[-2000:]}"


def test_the_readme_python_example_runs_from_a_fresh_clone(fresh_clone: Path) -> None:
    """The README's Python runs as written, in a fresh clone."""
    blocks = code_blocks(README, "python")
    assert blocks, "the README has no Python example"
    for start, block in blocks:
        script = fresh_clone / f"readme_{start}.py"
        script.write_text("\n".join(block) + "\n")
        done = subprocess.run(
            [sys.executable, script.name],
            cwd=fresh_clone,
            capture_output=True,
            text=True,
            timeout=100,
            check=False,
        )
        assert done.returncode == 0, f"README line {start}:\n{done.stderr[-2000:]}"
