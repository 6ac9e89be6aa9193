"""The package installs as a user installs it, and puts no top-level ``cli`` module into site-packages.

A fresh virtual environment gets a regular (not editable) ``pip install`` of the checkout,
from a copy of it so that the build leaves nothing (``build/``, ``*.egg-info``) in the
working tree. Then another distribution that ships a top-level ``cli.py``
(``sublime-backup``) is installed beside it, and ``tracker`` still runs. Needs PyPI;
marked ``slow``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTION = "recommendation-compliance-tracker"
LEFT_OUT = shutil.ignore_patterns(
    ".git",
    ".ci-venv*",
    "__pycache__",
    "*.egg-info",
    "build",
    "dist",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "*.db",
    "*.db-wal",
    "*.db-shm",
)

pytestmark = pytest.mark.slow


def copy_of_checkout(destination: Path) -> Path:
    def left_out(folder: str, names: list[str]) -> set[str]:
        ignored = set(LEFT_OUT(folder, names))
        if Path(folder) == ROOT / "bench":
            ignored.add("out")  # cached benchmark databases
        return ignored

    return Path(shutil.copytree(ROOT, destination, ignore=left_out))


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh virtual environment with the tracker installed from the checkout; its ``bin`` folder."""
    where = tmp_path_factory.mktemp("packaging")
    subprocess.run([sys.executable, "-m", "venv", str(where / "venv")], check=True, timeout=300)
    bin_dir = where / "venv" / "bin"
    pip(bin_dir, "install", str(copy_of_checkout(where / "checkout")))
    return bin_dir


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run from ``cwd``, away from the checkout (Python puts the current folder on sys.path)."""
    cwd.mkdir(exist_ok=True)
    return subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=cwd, env=environment())


def pip(bin_dir: Path, *args: str) -> str:
    result = run([str(bin_dir / "python"), "-m", "pip", *args], bin_dir.parent.parent / "elsewhere")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def assert_help_works(bin_dir: Path) -> None:
    elsewhere = bin_dir.parent.parent / "elsewhere"
    for command in ([str(bin_dir / "tracker"), "--help"], [str(bin_dir / "python"), "-m", "tracker", "--help"]):
        result = run(command, elsewhere)
        assert result.returncode == 0, (command, result.stderr)
        assert result.stdout.startswith("Usage: tracker [OPTIONS] COMMAND"), (command, result.stdout)


def test_a_regular_install_names_the_distribution_and_runs(venv):
    assert f"Name: {DISTRIBUTION}" in pip(venv, "show", DISTRIBUTION).splitlines()
    elsewhere = venv.parent.parent / "elsewhere"
    where = run([str(venv / "python"), "-c", "import tracker; print(tracker.__file__)"], elsewhere)
    assert where.returncode == 0, where.stderr
    assert "site-packages" in where.stdout and str(ROOT) not in where.stdout, where.stdout  # not editable
    no_cli = run([str(venv / "python"), "-c", "import cli"], elsewhere)
    assert no_cli.returncode != 0 and "ModuleNotFoundError" in no_cli.stderr, no_cli.stderr
    assert_help_works(venv)


def test_another_top_level_cli_module_does_not_break_tracker(venv):
    pip(venv, "install", "sublime-backup")
    elsewhere = venv.parent.parent / "elsewhere"
    found = run(
        [str(venv / "python"), "-c", "import importlib.util; print(importlib.util.find_spec('cli').origin)"], elsewhere
    )
    assert found.returncode == 0 and "site-packages" in found.stdout, found.stdout + found.stderr
    assert_help_works(venv)
