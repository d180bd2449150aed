"""VIP allocation without reading the whole subnet: a cursor per subnet and an index on
(subnet_id, ip_address) of the VIP tables

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vip_allocation_cursor",
        sa.Column("subnet_id", sa.String(length=36), nullable=False),
        sa.Column("next_address", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("subnet_id"),
    )
    op.create_index("ix_vip_subnet_id_ip_address", "vip", ["subnet_id", "ip_address"])
    op.create_index("ix_additional_vip_subnet_id_ip_address", "additional_vip", ["subnet_id", "ip_address"])


def downgrade() -> None:
    op.drop_index("ix_additional_vip_subnet_id_ip_address", table_name="additional_vip")
    op.drop_index("ix_vip_subnet_id_ip_address", table_name="vip")
    op.drop_table("vip_allocation_cursor")
