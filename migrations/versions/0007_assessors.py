"""Assessors, and entries made on behalf of an agency.

- ``assessor``: the parties that assess recommendations; one is the default, whose
  assessments are a recommendation's status.
- ``status_assessor``: whose assessment a status update is (none: the default assessor's,
  as every status recorded before this revision).
- ``entry_for``: evidence, a status update or a measurement entered on behalf of an agency.

New tables only: no stored row changes, so every event of the chain still records its rows.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

KINDS = ("government", "ngo", "donor", "international", "other")


def upgrade() -> None:
    op.create_table(
        "assessor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(*KINDS, name="assessor_kind", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessor")),
        sa.UniqueConstraint("code", name=op.f("uq_assessor_code")),
    )
    op.create_table(
        "status_assessor",
        sa.Column("status_update_id", sa.Integer(), nullable=False),
        sa.Column("assessor_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["status_update_id"], ["status_update.id"], name=op.f("fk_status_assessor_status_update_id_status_update")
        ),
        sa.ForeignKeyConstraint(["assessor_id"], ["assessor.id"], name=op.f("fk_status_assessor_assessor_id_assessor")),
        sa.PrimaryKeyConstraint("status_update_id", name=op.f("pk_status_assessor")),
    )
    op.create_index(op.f("ix_status_assessor_assessor_id"), "status_assessor", ["assessor_id"])
    op.create_table(
        "entry_for",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"], name=op.f("fk_entry_for_agency_id_agency")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entry_for")),
        sa.UniqueConstraint("target", "record_id", name=op.f("uq_entry_for_target_record_id")),
    )


def downgrade() -> None:
    op.drop_table("entry_for")
    op.drop_index(op.f("ix_status_assessor_assessor_id"), table_name="status_assessor")
    op.drop_table("status_assessor")
    op.drop_table("assessor")
