"""A writer waiting for another writer's lock says so, and gives up after a documented limit."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time

import pytest

from tracker import queries, services
from tracker.errors import DatabaseUnavailable
from tracker.store import engine as engines
from tracker.store.database import Database


@pytest.fixture
def path(sqlite_templates, tmp_path) -> str:
    target = tmp_path / "tracker.db"
    shutil.copyfile(sqlite_templates["loaded"], target)
    return str(target)


def _hold_write_lock(path: str, seconds: float) -> threading.Thread:
    ready = threading.Event()

    def hold() -> None:
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        ready.set()
        time.sleep(seconds)
        connection.execute("ROLLBACK")
        connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    ready.wait()
    return thread


def test_a_waiting_writer_says_so_then_writes_when_the_lock_is_free(path, monkeypatch):
    monkeypatch.setattr(engines, "WAIT_NOTICE_S", 0.3)
    notices: list[str] = []
    holder = _hold_write_lock(path, 1.0)
    database = Database(path, notice=notices.append)
    try:
        code = database.write(lambda session: services.add_agency(session, "mowa", "Women's Affairs", actor="ana").code)
    finally:
        database.dispose()
        holder.join()
    assert code == "mowa"
    assert len(notices) == 1 and notices[0].startswith(f"waiting for another writer to finish with {path}")


def test_a_writer_gives_up_after_the_limit_and_writes_nothing(path, monkeypatch):
    monkeypatch.setattr(engines, "BUSY_TIMEOUT_MS", 1_000)
    monkeypatch.setattr(engines, "WAIT_NOTICE_S", 0.2)
    notices: list[str] = []
    holder = _hold_write_lock(path, 3.0)
    database = Database(path, notice=notices.append)
    started = time.monotonic()
    try:
        with pytest.raises(DatabaseUnavailable, match=r"another writer held .* for over 1 s; nothing was written"):
            database.write(lambda session: services.add_agency(session, "mowa", "Women's Affairs", actor="ana"))
        waited = time.monotonic() - started
    finally:
        database.dispose()
        holder.join()
    assert waited < 2.5, "gave up once, not after retries"
    assert notices and "giving up after 1 s" in notices[0]
    check = Database(path)
    try:
        with check.reading() as session:
            assert "mowa" not in {agency["code"] for agency in queries.agency_list(session)}
    finally:
        check.dispose()
