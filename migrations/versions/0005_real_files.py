"""files: the bytes of paths that are not UTF-8, sensor temperature, frame type, and the reader's version

``path_bytes`` keeps the bytes of a path whose text form cannot give them back (a non-UTF-8 name), so the
file can be opened again. ``temperature`` (°C) and ``frame_type`` (light, dark, flat, bias) come from the
files that record them (FITS, some MakerNotes). ``reader`` is the version of the rules that identified the
file (``hpstore.io.READER``): rows from before it are re-identified by ``hpstore check``, and files that
failed before it are tried again by the next ingest.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("path_bytes", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("temperature", sa.Float(), nullable=True))
        batch.add_column(sa.Column("frame_type", sa.String(8), nullable=True))
        batch.add_column(sa.Column("reader", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.drop_column("reader")
        batch.drop_column("frame_type")
        batch.drop_column("temperature")
        batch.drop_column("path_bytes")
