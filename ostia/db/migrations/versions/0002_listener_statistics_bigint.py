"""listener statistics counters as 64-bit integers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COUNTERS = ("bytes_in", "bytes_out", "total_connections", "request_errors")


def upgrade() -> None:
    with op.batch_alter_table("listener_statistics", schema=None) as batch_op:
        for column in COUNTERS:
            batch_op.alter_column(column, existing_type=sa.Integer(), type_=sa.BigInteger(),
                                  existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("listener_statistics", schema=None) as batch_op:
        for column in COUNTERS:
            batch_op.alter_column(column, existing_type=sa.BigInteger(), type_=sa.Integer(),
                                  existing_nullable=False)
