"""amphora health remembers the agent's boot, for heartbeat replay protection

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 14:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("amphora_health", schema=None) as batch_op:
        batch_op.add_column(sa.Column("boot_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("previous_boot_ids", sa.String(length=296),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("amphora_health", schema=None) as batch_op:
        batch_op.drop_column("previous_boot_ids")
        batch_op.drop_column("boot_id")
