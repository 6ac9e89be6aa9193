"""Security: files written only where asked, stored names never used as paths, passwords
never shown, size caps on attachments and imported files."""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracker import files, importing, queries, services
from tracker.errors import InputError, NotFound
from tracker.store.database import Database
from tracker.store.engine import mask, resolve_url

from conftest import add_evidence, dump, invoke, read

CONTENT = bytes(range(256)) * 8


@pytest.fixture
def stored(database, tmp_path) -> tuple[Database, str]:
    """A database holding one attachment; returns (the database, its sha256)."""
    source = tmp_path / "inspection.pdf"
    source.write_bytes(CONTENT)
    evidence_id = add_evidence(
        database, ["labor-inspections"], "Inspection", "2019-07-03", "inspection", attach=[source]
    )
    return database, read(database, queries.evidence_record, evidence_id)["attachments"][0]["sha256"]


def file_back(database: Database, sha256: str, output: Path, *, force: bool = False) -> None:
    """What ``tracker evidence file SHA256 -o OUTPUT [--force]`` does, step by step."""
    files.check_destination(output, force=force)  # refused before any database work
    content = read(database, queries.attachment_content, sha256)
    files.write_exactly(output, content, force=force)


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# evidence file -o -------------------------------------------------------------------------------


def test_evidence_file_writes_exactly_the_bytes_at_exactly_the_path(stored, tmp_path):
    database, sha256 = stored
    out = tmp_path / "out"
    out.mkdir()
    file_back(database, sha256, out / "copy.pdf")
    assert (out / "copy.pdf").read_bytes() == CONTENT
    assert files_under(out) == {"copy.pdf"}, "no temporary file is left beside it"


def test_evidence_file_refuses_an_existing_file_without_force(stored, tmp_path):
    database, sha256 = stored
    existing = tmp_path / "existing.pdf"
    existing.write_bytes(b"keep")
    with pytest.raises(InputError, match="--force") as refused:
        file_back(database, sha256, existing)
    assert refused.value.exit_code == 2
    assert existing.read_bytes() == b"keep"
    file_back(database, sha256, existing, force=True)
    assert existing.read_bytes() == CONTENT


def test_a_symlink_at_the_path_is_refused_never_followed(stored, tmp_path):
    database, sha256 = stored
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    link = tmp_path / "link.pdf"
    link.symlink_to(victim)
    with pytest.raises(InputError) as refused:
        file_back(database, sha256, link)
    assert refused.value.exit_code == 2
    assert link.is_symlink() and victim.read_bytes() == b"precious"
    dangling = tmp_path / "dangling.pdf"
    dangling.symlink_to(tmp_path / "nowhere.txt")
    with pytest.raises(InputError) as refused:
        file_back(database, sha256, dangling)
    assert refused.value.exit_code == 2 and not (tmp_path / "nowhere.txt").exists()
    for path in (link, dangling):  # --force replaces a regular file only, never a link
        with pytest.raises(InputError, match="is a symbolic link") as refused:
            file_back(database, sha256, path, force=True)
        assert refused.value.exit_code == 2 and path.is_symlink()
    assert victim.read_bytes() == b"precious" and not (tmp_path / "nowhere.txt").exists()


@pytest.mark.parametrize("target", ["a-directory", "missing/dir/file.pdf"])
def test_evidence_file_refuses_a_directory_or_a_missing_parent(stored, tmp_path, target):
    database, sha256 = stored
    (tmp_path / "a-directory").mkdir()
    before = files_under(tmp_path)
    for force in (False, True):
        with pytest.raises(InputError) as refused:
            file_back(database, sha256, tmp_path / target, force=force)
        assert refused.value.exit_code == 2 and str(refused.value).startswith(f"-o {tmp_path / target}: ")
    assert files_under(tmp_path) == before


def test_an_unknown_sha256_writes_nothing(stored, tmp_path):
    database, _sha256 = stored
    with pytest.raises(NotFound) as unknown:
        file_back(database, "0" * 64, tmp_path / "x.pdf")
    assert unknown.value.exit_code == 2
    assert not (tmp_path / "x.pdf").exists()


def test_evidence_file_on_the_command_line_refuses_a_directory_with_one_error_line(stored, url, tmp_path):
    _database, sha256 = stored
    result = invoke(["--db", url, "evidence", "file", sha256, "-o", tmp_path])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") and len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stdout == ""


# Attachment names from the database are never paths --------------------------------------------


HOSTILE_NAMES = ["../../escape-{tag}.txt", "/tmp/escape-{tag}.txt", "..", "sub/dir/escape-{tag}.txt"]


def test_attachment_names_from_the_database_are_never_used_as_paths(database, url, tmp_path, monkeypatch):
    tag = uuid.uuid4().hex[:12]
    names = [name.format(tag=tag) for name in HOSTILE_NAMES]

    def add(session):
        evidence = services.check_evidence(
            recs=["labor-inspections"],
            title="Hostile names",
            observed_on="2019-07-04",
            kind="other",
            sensitivity="public",
        )
        files = [
            services.FileToAttach(filename=name, content=f"file {n}".encode(), media_type="text/plain")
            for n, name in enumerate(names)
        ]
        return services.add_evidence(session, evidence, attachments=files, actor="intruder").id

    evidence_id = database.write(add)
    cwd = tmp_path / "a" / "b" / "c"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    shown = read(database, queries.evidence_record, evidence_id)
    assert sorted(f["filename"] for f in shown["attachments"]) == sorted(names), "names are shown as stored"
    commands = [
        ["evidence", "show", str(evidence_id)],
        ["evidence", "list", "--include-retracted"],
        ["evidence", "file", shown["attachments"][0]["sha256"], "-o", "wanted.txt"],
        ["report", "quarterly", "2019Q3", "--audience", "confidential", "--format", "html", "-o", "r.html"],
        ["report", "quarterly", "2019Q3", "--audience", "confidential", "--format", "md", "-o", "r.md"],
        ["report", "quarterly", "2019Q3", "--audience", "confidential", "--format", "json", "-o", "r.json"],
        ["report", "quarterly", "2019Q3", "--audience", "confidential", "--format", "csv", "-o", "r.csv"],
        ["report", "quarterly", "2019Q3", "--audience", "confidential", "--format", "docx", "-o", "r.docx"],
        ["export", "--with-files", "-o", "export.json"],
    ]
    for args in commands:
        result = invoke(["--db", url, *args])
        assert result.exit_code == 0, (args, result.output)
    written = files_under(tmp_path)
    expected_here = {
        "a/b/c/" + name for name in ("wanted.txt", "r.html", "r.md", "r.json", "r.csv", "r.docx", "export.json")
    }
    assert written - {"a", "a/b", "a/b/c"} - {p for p in written if p.startswith("tracker-")} == expected_here
    assert not any("escape" in p for p in written)
    assert not Path(f"/tmp/escape-{tag}.txt").exists()


# Passwords never appear --------------------------------------------------------------------------


SECRET = "Zq9Secr3tPw"


def commands_for(url: str, tmp_path: Path) -> list[list[str]]:
    return [
        ["--db", url, "rec", "list"],
        ["--db", url, "verify"],
        ["--db", url, "db", "current"],
        ["--db", url, "db", "upgrade"],
        ["--db", url, "db", "downgrade", "0001"],
        ["--db", url, "init"],
        ["--db", url, "backup", str(tmp_path / "b.db")],
        ["--db", url, "evidence", "add", "--rec", "x", "--title", "T", "--date", "2019-07-01", "--kind", "law"],
        ["--db", url, "report", "quarterly", "2019Q3"],
        ["--db", url, "export"],
    ]


def assert_no_password(result, *secrets: str) -> None:
    assert result.exit_code in (1, 2), result.output
    assert result.stderr.startswith("Error: ") and len(result.stderr.strip().splitlines()) == 1, result.output
    for secret in secrets:
        assert secret not in result.output, result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://tracker:{SECRET}@127.0.0.1:1/tracker",
        f"postgresql+psycopg://tracker:{SECRET}@127.0.0.1:1/tracker?connect_timeout=2",
        f"postgres://tracker:{SECRET}@127.0.0.1:1/tracker",
        f"postgresql://tracker:{SECRET}@127.0.0.1:notaport/tracker",
        f"postgresql://tracker:{SECRET}",
        f"postgresql://tracker:p@ss{SECRET}@127.0.0.1:1/tracker",
        f"postgresql://tracker:{SECRET}@127.0.0.1:1/tracker%2Fx",
        f"mysql://tracker:{SECRET}@127.0.0.1:1/tracker",
    ],
)
def test_passwords_never_appear_in_any_message(url, tmp_path):
    for args in commands_for(url, tmp_path):
        assert_no_password(invoke(args), SECRET)
        # and the same through the environment
        assert_no_password(invoke(args[2:], env={"TRACKER_DATABASE_URL": url}), SECRET)


def test_a_wrong_password_on_a_live_server_is_not_shown(backend, url):
    if backend != "postgres":
        pytest.skip("PostgreSQL only")
    from sqlalchemy.engine import make_url

    wrong = make_url(url).set(username="nobody_here", password=SECRET).render_as_string(hide_password=False)
    assert_no_password(invoke(["--db", wrong, "rec", "list"]), SECRET)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(password=st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=0, max_size=20))
def test_a_password_of_any_characters_is_never_shown(password):
    """Whatever the password (raw '@', ':', '/', spaces, quotes, non-ASCII), no part of it leaks."""
    url = f"postgresql://tracker:A7xQ{password}Z9wK@127.0.0.1:1/tracker"
    result = invoke(["--db", url, "rec", "list"])
    assert result.exit_code in (1, 2), result.output
    assert "A7xQ" not in result.output and "Z9wK" not in result.output, result.output
    try:
        rendered = resolve_url(url)
    except InputError:
        return
    assert "A7xQ" not in mask(rendered) and "Z9wK" not in mask(rendered)


# Size caps ---------------------------------------------------------------------------------------


def test_an_attachment_over_25_mib_is_refused_and_nothing_is_written(run, url, tmp_path):
    assert services.MAX_ATTACHMENT_BYTES == 25 * 1024 * 1024
    big = tmp_path / "big.bin"
    with big.open("wb") as stream:  # sparse: costs no disk
        stream.truncate(services.MAX_ATTACHMENT_BYTES + 1)
    before = dump(url)
    result = run(
        "evidence",
        "add",
        "--rec",
        "labor-inspections",
        "--title",
        "Big",
        "--date",
        "2019-07-01",
        "--kind",
        "other",
        "--attach",
        str(big),
    )
    assert result.exit_code == 2, result.output
    assert "25 MiB" in result.stderr and str(big) in result.stderr
    assert dump(url) == before


def test_the_attachment_cap_is_inclusive(database, url, tmp_path, monkeypatch):
    monkeypatch.setattr(services, "MAX_ATTACHMENT_BYTES", 4096)
    exact, over = tmp_path / "exact.bin", tmp_path / "over.bin"
    exact.write_bytes(b"x" * 4096)
    over.write_bytes(b"x" * 4097)
    args = (database, ["labor-inspections"], "Cap", "2019-07-01", "other")
    assert add_evidence(*args, attach=[exact]) > 0
    before = dump(url)
    with pytest.raises(InputError, match="4097 bytes is over") as refused:
        add_evidence(*args, attach=[over])
    assert refused.value.exit_code == 2
    assert dump(url) == before


@pytest.mark.parametrize("suffix, limit", [(".csv", importing.MAX_CSV_BYTES), (".xlsx", importing.MAX_XLSX_BYTES)])
def test_an_imported_file_over_its_cap_is_refused_and_nothing_is_written(run, url, tmp_path, suffix, limit):
    big = tmp_path / f"big{suffix}"
    with big.open("wb") as stream:
        stream.truncate(limit + 1)
    before = dump(url)
    result = run("import", str(big))
    assert result.exit_code == 2, result.output
    assert f"{limit // 1024 // 1024} MiB" in result.stderr
    assert dump(url) == before


def test_an_export_of_any_size_is_read_as_it_is_restored(run, url, tmp_path):
    """An export has no size limit: it is read a piece at a time, so a file of 2 GiB is
    refused for what it starts with, at once, never read whole."""
    big = tmp_path / "big.json"
    with big.open("wb") as stream:
        stream.write(b'{"format": "tracker-export", "version": 1, "junk": ')
        stream.truncate(2 * 1024**3)
    before = dump(url)
    result = run("import", str(big))
    assert result.exit_code == 2, result.output
    assert "unknown key 'junk' at the top level" in result.stderr
    assert dump(url) == before


def test_nothing_is_read_from_a_file_that_is_not_a_regular_file(run, tmp_path):
    """A directory cannot be attached or imported (exit 2, not a crash)."""
    folder = tmp_path / "folder"
    folder.mkdir()
    assert (
        run(
            "evidence",
            "add",
            "--rec",
            "labor-inspections",
            "--title",
            "D",
            "--date",
            "2019-07-01",
            "--kind",
            "other",
            "--attach",
            str(folder),
        ).exit_code
        == 2
    )
    assert run("import", str(folder)).exit_code == 2


def test_database_display_masks_the_password():
    database = Database(f"postgresql://tracker:{SECRET}@db.example.org/tracker")
    assert SECRET not in repr(database) and SECRET not in database.display
    assert database.display == "postgresql+psycopg://tracker:***@db.example.org/tracker"
    assert (
        mask(f"see postgresql://u:{SECRET}@h/d and sqlite:///x.db") == "see postgresql://u:***@h/d and sqlite:///x.db"
    )
    assert os.environ.get("TRACKER_DEBUG") != "1"


class Hung(BaseException):
    """Raised by the alarm: not an Exception, so that no handler turns it into an exit code."""


@contextlib.contextmanager
def at_most(seconds: float):
    """Interrupt whatever blocks (an open() of a FIFO waiting for a writer) after ``seconds``."""

    def interrupt(_signal, _frame):
        raise Hung(f"still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_fifo_is_refused_not_read_forever(sqlite_templates, tmp_path):
    import shutil

    database = tmp_path / "t.db"
    shutil.copyfile(sqlite_templates["loaded"], database)
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    commands = [
        [
            "--db",
            str(database),
            "evidence",
            "add",
            "--rec",
            "labor-inspections",
            "--title",
            "F",
            "--date",
            "2019-07-01",
            "--kind",
            "other",
            "--attach",
            str(fifo),
        ],
        ["--db", str(database), "import", str(fifo)],
    ]
    for args in commands:
        with at_most(6):
            result = invoke(args)
        assert result.exit_code == 2 and result.stderr.startswith("Error: "), result.output
