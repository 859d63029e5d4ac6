"""The code base keeps its own rules: ruff's lint and format, 88 columns."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

CHECKED = ["drillhall", "tests", "benchmarks", "drills"]


def ruff(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *arguments, *CHECKED],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_ruff_lint_is_clean():
    result = ruff("check", "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    result = ruff("format", "--check", "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr


def test_types_check():
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
