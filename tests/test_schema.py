"""The schema holds every vocabulary value and refuses anything else, on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError

from tracker.store.database import Database
from tracker.store.models import (
    Agency,
    Evidence,
    EvidenceLink,
    Indicator,
    Recommendation,
    RecommendationAgency,
    Source,
    StatusUpdate,
)
from tracker.vocab import (
    Direction,
    EvidenceKind,
    Pillar,
    Reliability,
    Role,
    Sensitivity,
    Stance,
    Status,
    TextStatus,
)

NOW = datetime(2020, 1, 1, tzinfo=UTC)


def _insert_every_value(connection) -> None:
    source_id = connection.execute(
        insert(Source)
        .values(slug="s", title="S", publisher="P", country="KH", published_on=date(2019, 6, 20), complete=True)
        .returning(Source.id)
    ).scalar_one()
    rec_ids = []
    for n, (pillar, text_status) in enumerate(
        [(p, TextStatus.VERBATIM) for p in Pillar] + [(Pillar.PROTECTION, t) for t in TextStatus]
    ):
        rec_ids.append(
            connection.execute(
                insert(Recommendation)
                .values(source_id=source_id, code=f"r{n}", title="T", text="X", text_status=text_status, pillar=pillar)
                .returning(Recommendation.id)
            ).scalar_one()
        )
    for n, role in enumerate(Role):
        agency_id = connection.execute(insert(Agency).values(code=f"a{n}", name="A").returning(Agency.id)).scalar_one()
        connection.execute(
            insert(RecommendationAgency).values(recommendation_id=rec_ids[0], agency_id=agency_id, role=role)
        )
    for status in Status:
        connection.execute(
            insert(StatusUpdate).values(
                recommendation_id=rec_ids[0],
                status=status,
                effective_on=date(2019, 7, 1),
                note="n",
                recorded_at=NOW,
                recorded_by="t",
            )
        )
    evidence_values = dict(
        title="E",
        observed_on=date(2019, 7, 1),
        recorded_at=NOW,
        recorded_by="t",
        kind=EvidenceKind.OTHER,
        reliability=Reliability.CREDIBLE,
        sensitivity=Sensitivity.PUBLIC,
    )
    combos = (
        [dict(kind=k) for k in EvidenceKind]
        + [dict(reliability=r) for r in Reliability]
        + [dict(sensitivity=s) for s in Sensitivity]
    )
    for n, combo in enumerate(combos):
        evidence_id = connection.execute(
            insert(Evidence).values(**{**evidence_values, **combo}).returning(Evidence.id)
        ).scalar_one()
        stance = list(Stance)[n % len(Stance)]
        connection.execute(
            insert(EvidenceLink).values(evidence_id=evidence_id, recommendation_id=rec_ids[0], stance=stance)
        )
    for direction in Direction:
        connection.execute(
            insert(Indicator).values(
                recommendation_id=rec_ids[0], code=f"i-{direction}", name="I", unit="u", direction=direction
            )
        )


def test_every_vocabulary_value_fits_the_migrated_schema(empty_url):
    database = Database(empty_url)
    with database.engine.begin() as connection:
        _insert_every_value(connection)
    with database.engine.connect() as connection:
        assert {s for (s,) in connection.execute(select(StatusUpdate.status))} == set(Status)
        assert {k for (k,) in connection.execute(select(Evidence.kind))} == set(EvidenceKind)
        assert {s for (s,) in connection.execute(select(EvidenceLink.stance))} == set(Stance)
    database.dispose()


@pytest.mark.parametrize(
    "table, column",
    [
        ("status_update", "status"),
        ("evidence", "kind"),
        ("evidence", "sensitivity"),
        ("evidence_link", "stance"),
        ("recommendation", "pillar"),
        ("recommendation_agency", "role"),
        ("indicator", "direction"),
    ],
)
def test_a_value_outside_the_vocabulary_is_refused_by_the_database(empty_url, table, column):
    database = Database(empty_url)
    with database.engine.begin() as connection:
        _insert_every_value(connection)
    with pytest.raises(IntegrityError):
        with database.engine.begin() as connection:
            connection.execute(text(f"UPDATE {table} SET {column} = 'bogus'"))
    database.dispose()


def test_sqlite_connections_use_wal_and_foreign_keys(tmp_path, sqlite_templates):
    database = Database(str(sqlite_templates["loaded"]))
    with database.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    database.dispose()


def test_sqlite_refuses_a_dangling_foreign_key(sqlite_templates, tmp_path):
    import shutil

    path = tmp_path / "t.db"
    shutil.copyfile(sqlite_templates["empty"], path)
    database = Database(str(path))
    with pytest.raises(IntegrityError):
        with database.engine.begin() as connection:
            connection.execute(
                insert(Recommendation).values(
                    source_id=999, code="x", title="T", text="X", text_status="verbatim", pillar="prevention"
                )
            )
    database.dispose()
