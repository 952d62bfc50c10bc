"""rankings: each family's ranked defects, kept per state version and query options

A query's answer is a function of the committed state, the per-photo evidence and the query's options. The
first query of a state computes it and keeps it here under the family, a version that names the state (the
groups' generations, frame counts and update times) and the options; a later query with the same options
reads it back. Rows of older versions are deleted when a newer one is written.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rankings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("family", sa.String(200), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("entries", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("family", "version", "options", name="uq_rankings_family_version_options"),
    )
    op.create_index("ix_rankings_family", "rankings", ["family"])


def downgrade() -> None:
    op.drop_index("ix_rankings_family", table_name="rankings")
    op.drop_table("rankings")
