"""a show's RTMP stream key and what a publish or its end does

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 19:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("shows") as batch:
        batch.add_column(sa.Column("stream_key", sa.String(length=64), nullable=True))
        batch.create_index("ix_shows_stream_key", ["stream_key"], unique=True)
        batch.add_column(
            sa.Column(
                "go_live_on_publish", sa.Boolean(), nullable=False, server_default=sa.true()
            )
        )
        batch.add_column(
            sa.Column(
                "end_on_stream_end", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("shows") as batch:
        batch.drop_column("end_on_stream_end")
        batch.drop_column("go_live_on_publish")
        batch.drop_index("ix_shows_stream_key")
        batch.drop_column("stream_key")
