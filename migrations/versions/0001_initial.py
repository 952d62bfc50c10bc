"""initial catalog: cameras, groups, files

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cameras",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("make", sa.String(100), nullable=True),
        sa.Column("model", sa.String(100), nullable=True),
        sa.Column("serial", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cameras"),
        sa.UniqueConstraint("key", name="uq_cameras_key"),
    )
    op.create_table(
        "groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("channels", sa.Integer(), nullable=False),
        sa.Column("bits", sa.Integer(), nullable=False),
        sa.Column("pattern", sa.String(64), nullable=True),
        sa.Column("black_level", sa.Float(), nullable=True),
        sa.Column("white_level", sa.Float(), nullable=True),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], name="fk_groups_camera_id_cameras"),
        sa.PrimaryKeyConstraint("id", name="pk_groups"),
        sa.UniqueConstraint(
            "camera_id", "source", "height", "width", "channels", "bits", name="uq_groups_geometry"
        ),
    )
    op.create_index("ix_groups_camera_id", "groups", ["camera_id"])
    op.create_table(
        "files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("mtime", sa.Float(), nullable=True),
        sa.Column("hash", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("format", sa.String(16), nullable=True),
        sa.Column("source", sa.String(8), nullable=True),
        sa.Column("camera_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("capture_time", sa.DateTime(), nullable=True),
        sa.Column("exposure_time", sa.Float(), nullable=True),
        sa.Column("iso", sa.Float(), nullable=True),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], name="fk_files_camera_id_cameras"),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name="fk_files_group_id_groups"),
        sa.PrimaryKeyConstraint("id", name="pk_files"),
        sa.UniqueConstraint("path", name="uq_files_path"),
    )
    op.create_index("ix_files_hash", "files", ["hash"])
    op.create_index("ix_files_status", "files", ["status"])
    op.create_index("ix_files_camera_id", "files", ["camera_id"])
    op.create_index("ix_files_group_id", "files", ["group_id"])


def downgrade() -> None:
    op.drop_table("files")
    op.drop_table("groups")
    op.drop_table("cameras")
