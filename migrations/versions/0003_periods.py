"""groups.period and files.standouts: the time axis

Each group now holds one calendar period of a camera's photos (``hpstore.timeaxis.periods``); groups made before
keep their state as period ``all``. ``files.standouts`` keeps each photo's sparse evidence: the photosites
that stood out from their same-colour neighbours in that photo (``hpstore.ingest.scan``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_OLD = ("camera_id", "source", "height", "width", "channels", "bits", "exposure")


def upgrade() -> None:
    with op.batch_alter_table("groups") as batch:
        batch.add_column(sa.Column("period", sa.String(16), server_default="all", nullable=False))
        batch.drop_constraint("uq_groups_geometry", type_="unique")
        batch.create_unique_constraint("uq_groups_geometry", [*_OLD, "period"])
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("standouts", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.drop_column("standouts")
    with op.batch_alter_table("groups") as batch:
        batch.drop_constraint("uq_groups_geometry", type_="unique")
        batch.create_unique_constraint("uq_groups_geometry", list(_OLD))
        batch.drop_column("period")
