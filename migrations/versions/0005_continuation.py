"""Continuations: a recommendation of a later edition continues one of an earlier edition.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

RELATIONS = ("repeated", "reworded", "narrowed", "broadened", "merged", "split")


def upgrade() -> None:
    op.create_table(
        "continuation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recommendation_id", sa.Integer(), nullable=False),
        sa.Column("earlier_source", sa.String(length=64), nullable=False),
        sa.Column("earlier_code", sa.String(length=64), nullable=False),
        sa.Column(
            "relation",
            sa.Enum(*RELATIONS, name="relation", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["recommendation_id"],
            ["recommendation.id"],
            name=op.f("fk_continuation_recommendation_id_recommendation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_continuation")),
        sa.UniqueConstraint(
            "recommendation_id",
            "earlier_source",
            "earlier_code",
            name=op.f("uq_continuation_recommendation_id_earlier_source_earlier_code"),
        ),
    )


def downgrade() -> None:
    op.drop_table("continuation")
