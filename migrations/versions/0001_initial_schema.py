"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 12:19:32.035767
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('controller_state',
    sa.Column('site', sa.String(length=80), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('site', 'key')
    )
    op.create_table('events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('ts', sa.DateTime(timezone=True), nullable=False),
    sa.Column('site', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=120), nullable=False),
    sa.Column('from_state', sa.String(length=64), nullable=True),
    sa.Column('to_state', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_kind_source', ['kind', 'source'], unique=False)
        batch_op.create_index('ix_events_site_ts', ['site', 'ts'], unique=False)

    op.create_table('l8_records',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('ts', sa.DateTime(timezone=True), nullable=False),
    sa.Column('site', sa.String(length=80), nullable=False),
    sa.Column('cylinder', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('sensor', sa.String(length=80), nullable=True),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('hash')
    )
    with op.batch_alter_table('l8_records', schema=None) as batch_op:
        batch_op.create_index('ix_l8_records_site_ts', ['site', 'ts'], unique=False)

    op.create_table('register_writes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('ts', sa.DateTime(timezone=True), nullable=False),
    sa.Column('site', sa.String(length=80), nullable=False),
    sa.Column('device', sa.String(length=80), nullable=False),
    sa.Column('point', sa.String(length=80), nullable=False),
    sa.Column('register_type', sa.String(length=16), nullable=True),
    sa.Column('address', sa.Integer(), nullable=True),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('previous_value', sa.Float(), nullable=True),
    sa.Column('raw', sa.JSON(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('register_writes', schema=None) as batch_op:
        batch_op.create_index('ix_register_writes_site_ts', ['site', 'ts'], unique=False)

    op.create_table('samples',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('ts', sa.DateTime(timezone=True), nullable=False),
    sa.Column('site', sa.String(length=80), nullable=False),
    sa.Column('point', sa.String(length=120), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('quality', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('samples', schema=None) as batch_op:
        batch_op.create_index('ix_samples_site_point_ts', ['site', 'point', 'ts'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('samples', schema=None) as batch_op:
        batch_op.drop_index('ix_samples_site_point_ts')

    op.drop_table('samples')
    with op.batch_alter_table('register_writes', schema=None) as batch_op:
        batch_op.drop_index('ix_register_writes_site_ts')

    op.drop_table('register_writes')
    with op.batch_alter_table('l8_records', schema=None) as batch_op:
        batch_op.drop_index('ix_l8_records_site_ts')

    op.drop_table('l8_records')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_site_ts')
        batch_op.drop_index('ix_events_kind_source')

    op.drop_table('events')
    op.drop_table('controller_state')
