"""L8 records get a per-site sequence number (hashed, unique); stored daily COP figures.

The L8 table has no writer before this revision, so the new NOT NULL column needs no back-fill.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 12:27:56.237488
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cop_daily',
    sa.Column('site', sa.String(length=80), nullable=False),
    sa.Column('unit', sa.String(length=80), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('figures', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('site', 'unit', 'day')
    )
    with op.batch_alter_table('l8_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.BigInteger(), nullable=False))
        batch_op.create_unique_constraint('uq_l8_records_site_seq', ['site', 'seq'])



def downgrade() -> None:
    with op.batch_alter_table('l8_records', schema=None) as batch_op:
        batch_op.drop_constraint('uq_l8_records_site_seq', type_='unique')
        batch_op.drop_column('seq')

    op.drop_table('cop_daily')
