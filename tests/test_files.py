"""An attachment records the same bytes on every machine: its media type does not come from the host."""

from __future__ import annotations

import mimetypes
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tracker import files, services


@pytest.mark.parametrize(
    "name, expected",
    [
        ("verdict.pdf", "application/pdf"),
        ("Prakas.DOCX", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("inspections.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("notes.md", "text/markdown"),
        ("minutes.odt", "application/vnd.oasis.opendocument.text"),
        ("photo.JPG", "image/jpeg"),
        ("data.bin", "application/octet-stream"),
        ("no-extension", "application/octet-stream"),
    ],
)
def test_a_media_type_comes_from_the_table_shipped_with_the_tracker(name, expected):
    assert files.media_type(name) == expected


def test_an_attachment_is_recorded_alike_when_the_host_knows_no_media_types(tmp_path, monkeypatch):
    """As on a slim container or Windows: Python's mimetypes knows nothing, the record is the same."""
    paths = []
    for name in ("report.docx", "table.xlsx", "notes.md", "minutes.odt", "scan.pdf"):
        path = tmp_path / name
        path.write_bytes(name.encode())
        paths.append(path)
    before = [services.read_attachment(path) for path in paths]
    empty = mimetypes.MimeTypes(filenames=(), strict=True)
    empty.types_map = ({}, {})
    empty.types_map_inv = ({}, {})
    monkeypatch.setattr(mimetypes, "guess_type", empty.guess_type)
    monkeypatch.setattr(mimetypes, "types_map", {})
    monkeypatch.setattr(mimetypes, "inited", True)
    assert mimetypes.guess_type("report.docx") == (None, None)
    after = [services.read_attachment(path) for path in paths]
    assert after == before
    assert [file.media_type for file in after] == [files.media_type(path.name) for path in paths]
    assert "application/octet-stream" not in {file.media_type for file in after}


def _evidence_event(template, tmp_path, name: str, attachment) -> str:
    import shutil

    from tracker import clock
    from tracker.audit.chain import last_event
    from tracker.store.database import Database

    path = tmp_path / name
    shutil.copyfile(template, path)
    database = Database(str(path))
    try:
        with clock.frozen(datetime(2019, 10, 1, tzinfo=UTC)):
            given = services.check_evidence(
                recs=["undercover-techniques"], title="Sub-decree", observed_on="2019-09-01", kind="regulation"
            )
            database.write(
                lambda session: services.add_evidence(
                    session, given, attachments=[services.read_attachment(attachment)], actor="ana"
                )
            )
        with database.reading() as session:
            event = last_event(session)
            assert event is not None
            return event.payload
    finally:
        database.dispose()


def test_the_event_recording_an_attachment_is_the_same_without_the_hosts_media_types(
    sqlite_templates, tmp_path, monkeypatch
):
    attachment = tmp_path / "sub-decree.docx"
    attachment.write_bytes(b"PK\x03\x04 a document")
    with_host = _evidence_event(sqlite_templates["loaded"], tmp_path, "host.db", attachment)
    monkeypatch.setattr(mimetypes, "guess_type", lambda *_args, **_kwargs: (None, None))
    without = _evidence_event(sqlite_templates["loaded"], tmp_path, "bare.db", attachment)
    assert without == with_host
    assert '"media_type":"application/vnd.openxmlformats-officedocument.wordprocessingml.document"' in without


@pytest.mark.parametrize("make", ["device", "fifo", "symlink", "directory"])
def test_output_goes_only_to_a_regular_file(run, tmp_path, make):
    """`report -o` (which replaces an existing file) refuses anything that is not a regular file."""
    import os

    target = tmp_path / "out.md"
    if make == "device":
        target = Path("/dev/null")
    elif make == "fifo":
        os.mkfifo(target)
    elif make == "symlink":
        (tmp_path / "elsewhere.md").write_text("kept\n")
        target.symlink_to(tmp_path / "elsewhere.md")
    else:
        target.mkdir()
    before = target.lstat()
    result = run("report", "quarterly", "2019Q3", "-o", str(target))
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and result.stderr.startswith(f"Error: -o {target}: ")
    assert len(result.stderr.strip().splitlines()) == 1
    after = target.lstat()
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    if make == "symlink":
        assert (tmp_path / "elsewhere.md").read_text() == "kept\n"


@pytest.mark.parametrize("make", ["symlink", "proc"])
def test_an_attachment_is_a_regular_file_not_a_link_or_a_special_file(tmp_path, make):
    from tracker.errors import InputError

    if make == "symlink":
        secret = tmp_path / "secret.txt"
        secret.write_text("root:x:0:0\n")
        path = tmp_path / "innocent.pdf"
        path.symlink_to(secret)
        expected = "is a symbolic link"
    else:
        path = Path("/proc/self/environ")
        expected = "a special file"
    with pytest.raises(InputError, match=expected):
        services.read_attachment(path)
