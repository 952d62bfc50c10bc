"""groups.exposure: keep each camera's statistics per exposure class (short / long)

Groups made before this revision mixed every exposure; they keep their state as class ``all``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_OLD = ("camera_id", "source", "height", "width", "channels", "bits")


def upgrade() -> None:
    with op.batch_alter_table("groups") as batch:
        batch.add_column(sa.Column("exposure", sa.String(8), server_default="all", nullable=False))
        batch.drop_constraint("uq_groups_geometry", type_="unique")
        batch.create_unique_constraint("uq_groups_geometry", [*_OLD, "exposure"])


def downgrade() -> None:
    with op.batch_alter_table("groups") as batch:
        batch.drop_constraint("uq_groups_geometry", type_="unique")
        batch.create_unique_constraint("uq_groups_geometry", list(_OLD))
        batch.drop_column("exposure")
