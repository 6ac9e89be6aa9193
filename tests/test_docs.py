"""Every command is in the README, and CI runs the README's test command."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from tracker import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _commands():
    stack = [((), typer.main.get_command(cli.app))]
    while stack:
        path, command = stack.pop()
        subcommands = getattr(command, "commands", None)
        if subcommands:
            stack.extend(((*path, name), sub) for name, sub in subcommands.items())
        elif path:
            yield " ".join(path)


@pytest.mark.parametrize("command", sorted(_commands()))
def test_every_command_is_in_the_readme(command):
    assert f"`tracker {command}" in README, f"README does not document `tracker {command}`"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -e '.[dev]' && pytest" in README
    assert "pip install --quiet -e '.[dev]'" in ci
    assert "\npytest\n" in ci
