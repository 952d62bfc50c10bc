"""files.px_per_mm_x/y: EXIF focal-plane resolution, for defects per mm² of sensor

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("px_per_mm_x", sa.Float(), nullable=True))
        batch.add_column(sa.Column("px_per_mm_y", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.drop_column("px_per_mm_y")
        batch.drop_column("px_per_mm_x")
