"""Reading works on storage that cannot be written, and changes no byte of what it reads.

A read-only folder (or mount), a file its reader may not write, a `tracker backup` copy:
`rec list`, a report and `verify` succeed, and the files' sha256 are unchanged. Run as
root, the commands run as the user `nobody` (root may write anywhere).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tracker import clock, services
from tracker.store.database import Database

COMMANDS = [["rec", "list"], ["report", "quarterly", "2019Q3", "--format", "json", "--as-of", "2019-10-01"], ["verify"]]


def _as_reader() -> list[str]:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot read as another user")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def read_only_folder(sqlite_templates):
    folder = Path(tempfile.mkdtemp(prefix="tracker-read-only-"))
    try:
        path = folder / "tracker.db"
        shutil.copyfile(sqlite_templates["loaded"], path)
        database = Database(str(path))
        try:
            with clock.frozen(clock.now().replace(year=2019, month=9, day=30)):
                database.write(
                    lambda session: services.add_evidence(
                        session,
                        services.check_evidence(
                            recs=["labor-inspections"],
                            title="Kiln inspections",
                            observed_on="2019-09-01",
                            kind="inspection",
                        ),
                        actor="ana",
                    )
                )
            database.backup(folder / "backup.db")
        finally:
            database.dispose()
        for name in os.listdir(folder):
            os.chmod(folder / name, 0o444)
        os.chmod(folder, 0o555)
        yield folder
    finally:
        os.chmod(folder, 0o755)
        shutil.rmtree(folder)


@pytest.mark.parametrize("name", ["tracker.db", "backup.db"])
def test_reads_work_in_a_read_only_folder_and_change_nothing(read_only_folder, name):
    path = read_only_folder / name
    before = {entry: _digest(read_only_folder / entry) for entry in sorted(os.listdir(read_only_folder))}
    prefix = _as_reader()
    for command in COMMANDS:
        result = subprocess.run(
            [*prefix, sys.executable, "-m", "tracker", "--db", str(path), *command],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, (command, result.stderr)
        assert "readonly" not in result.stderr
    after = {entry: _digest(read_only_folder / entry) for entry in sorted(os.listdir(read_only_folder))}
    assert after == before
    assert stat.S_IMODE(os.stat(read_only_folder).st_mode) == 0o555


def test_a_new_database_is_readable_by_its_owner_only(tmp_path):
    previous = os.umask(0o022)
    try:
        database = Database(str(tmp_path / "tracker.db"))
        database.upgrade(backup=False, create=True)
        database.dispose()
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(tmp_path / "tracker.db").st_mode) == 0o600
