"""The domain model: sources, recommendations, agencies, status history, evidence,
attachments, indicators, measurements and the hash-chained event log.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

# Vocabularies are frozen here as literals: a migration never imports the app's enums.

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agency",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency")),
        sa.UniqueConstraint("code", name=op.f("uq_agency_code")),
    )
    op.create_table(
        "attachment",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(length=200), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_attachment")),
    )
    op.create_table(
        "event",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_event")),
        sa.UniqueConstraint("hash", name=op.f("uq_event_hash")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_event_prev_hash")),
    )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_recorded_at"), ["recorded_at"], unique=False)

    op.create_table(
        "evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "law",
                "regulation",
                "policy",
                "court_case",
                "statistic",
                "inspection",
                "training",
                "government_statement",
                "ngo_report",
                "media_report",
                "field_observation",
                "other",
                name="evidence_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("observed_on", sa.Date(), nullable=False),
        sa.Column("source_name", sa.String(length=200), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column(
            "reliability",
            sa.Enum(
                "confirmed",
                "credible",
                "unverified",
                name="reliability",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "sensitivity",
            sa.Enum(
                "public",
                "internal",
                "confidential",
                name="sensitivity",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence")),
    )
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_observed_on"), ["observed_on"], unique=False)

    op.create_table(
        "source",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("publisher", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("published_on", sa.Date(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column("rating", sa.String(length=200), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source")),
        sa.UniqueConstraint("slug", name=op.f("uq_source_slug")),
    )
    op.create_table(
        "evidence_attachment",
        sa.Column("evidence_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["evidence_id"], ["evidence.id"], name=op.f("fk_evidence_attachment_evidence_id_evidence")
        ),
        sa.ForeignKeyConstraint(
            ["sha256"], ["attachment.sha256"], name=op.f("fk_evidence_attachment_sha256_attachment")
        ),
        sa.PrimaryKeyConstraint("evidence_id", "sha256", name=op.f("pk_evidence_attachment")),
    )
    op.create_table(
        "evidence_retraction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("evidence_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["evidence_id"], ["evidence.id"], name=op.f("fk_evidence_retraction_evidence_id_evidence")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_retraction")),
        sa.UniqueConstraint("evidence_id", name=op.f("uq_evidence_retraction_evidence_id")),
    )
    op.create_table(
        "recommendation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column(
            "text_status",
            sa.Enum("verbatim", "paraphrase", name="text_status", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column(
            "pillar",
            sa.Enum(
                "prosecution",
                "protection",
                "prevention",
                "partnership",
                name="pillar",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["source_id"], ["source.id"], name=op.f("fk_recommendation_source_id_source")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recommendation")),
        sa.UniqueConstraint("source_id", "code", name=op.f("uq_recommendation_source_id_code")),
    )
    op.create_table(
        "evidence_link",
        sa.Column("evidence_id", sa.Integer(), nullable=False),
        sa.Column("recommendation_id", sa.Integer(), nullable=False),
        sa.Column(
            "stance",
            sa.Enum(
                "progress", "setback", "context", name="stance", native_enum=False, create_constraint=True, length=32
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["evidence_id"], ["evidence.id"], name=op.f("fk_evidence_link_evidence_id_evidence")),
        sa.ForeignKeyConstraint(
            ["recommendation_id"], ["recommendation.id"], name=op.f("fk_evidence_link_recommendation_id_recommendation")
        ),
        sa.PrimaryKeyConstraint("evidence_id", "recommendation_id", name=op.f("pk_evidence_link")),
    )
    with op.batch_alter_table("evidence_link", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evidence_link_recommendation_id_evidence_id"),
            ["recommendation_id", "evidence_id"],
            unique=False,
        )

    op.create_table(
        "indicator",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recommendation_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("unit", sa.String(length=200), nullable=False),
        sa.Column(
            "direction",
            sa.Enum("up", "down", name="direction", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("target", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["recommendation_id"], ["recommendation.id"], name=op.f("fk_indicator_recommendation_id_recommendation")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicator")),
        sa.UniqueConstraint("code", name=op.f("uq_indicator_code")),
    )
    with op.batch_alter_table("indicator", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_indicator_recommendation_id"), ["recommendation_id"], unique=False)

    op.create_table(
        "recommendation_agency",
        sa.Column("recommendation_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column(
            "role",
            sa.Enum("lead", "support", name="role", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"], name=op.f("fk_recommendation_agency_agency_id_agency")),
        sa.ForeignKeyConstraint(
            ["recommendation_id"],
            ["recommendation.id"],
            name=op.f("fk_recommendation_agency_recommendation_id_recommendation"),
        ),
        sa.PrimaryKeyConstraint("recommendation_id", "agency_id", name=op.f("pk_recommendation_agency")),
    )
    op.create_table(
        "status_update",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recommendation_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "not_started",
                "in_progress",
                "partially_implemented",
                "implemented",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.CheckConstraint("length(note) > 0", name=op.f("ck_status_update_note_not_blank")),
        sa.ForeignKeyConstraint(
            ["recommendation_id"], ["recommendation.id"], name=op.f("fk_status_update_recommendation_id_recommendation")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_update")),
    )
    with op.batch_alter_table("status_update", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_status_update_recommendation_id_effective_on"),
            ["recommendation_id", "effective_on"],
            unique=False,
        )

    op.create_table(
        "measurement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("quarter_start", sa.Date(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("evidence_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["evidence_id"], ["evidence.id"], name=op.f("fk_measurement_evidence_id_evidence")),
        sa.ForeignKeyConstraint(["indicator_id"], ["indicator.id"], name=op.f("fk_measurement_indicator_id_indicator")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measurement")),
    )
    with op.batch_alter_table("measurement", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_measurement_indicator_id_quarter_start"), ["indicator_id", "quarter_start"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("measurement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_measurement_indicator_id_quarter_start"))

    op.drop_table("measurement")
    with op.batch_alter_table("status_update", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_status_update_recommendation_id_effective_on"))

    op.drop_table("status_update")
    op.drop_table("recommendation_agency")
    with op.batch_alter_table("indicator", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_indicator_recommendation_id"))

    op.drop_table("indicator")
    with op.batch_alter_table("evidence_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_link_recommendation_id_evidence_id"))

    op.drop_table("evidence_link")
    op.drop_table("recommendation")
    op.drop_table("evidence_retraction")
    op.drop_table("evidence_attachment")
    op.drop_table("source")
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_observed_on"))

    op.drop_table("evidence")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_recorded_at"))

    op.drop_table("event")
    op.drop_table("attachment")
    op.drop_table("agency")
