"""engine: resources of projects, process pool

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('process_instance',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('start_time', sa.BigInteger(), nullable=False),
    sa.Column('end_time', sa.BigInteger(), nullable=True),
    sa.Column('process_name', sa.String(length=128), nullable=False),
    sa.Column('resource_type', sa.String(length=64), nullable=False),
    sa.Column('resource_id', sa.BigInteger(), nullable=False),
    sa.Column('phase', sa.String(length=32), nullable=False),
    sa.Column('exit_reason', sa.String(length=64), nullable=True),
    sa.Column('result', sa.String(length=32), nullable=True),
    sa.Column('priority', sa.Integer(), server_default='0', nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('run_after', sa.BigInteger(), nullable=False),
    sa.Column('execution_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('running_process_server_id', sa.String(length=128), nullable=True),
    sa.Column('running_at', sa.BigInteger(), nullable=True),
    sa.Column('start_process_server_id', sa.String(length=128), nullable=True),
    sa.Column('account_id', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.create_index('ix_process_instance_account', ['account_id'], unique=False)
        batch_op.create_index('ix_process_instance_ready', ['end_time', 'run_after'], unique=False)
        batch_op.create_index('ix_process_instance_resource', ['resource_type', 'resource_id', 'end_time'], unique=False)

    op.create_table('agent',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.String(length=1024), nullable=True),
    sa.Column('state', sa.String(length=64), nullable=False),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.Column('removed', sa.BigInteger(), nullable=True),
    sa.Column('transitioning', sa.String(length=16), server_default='no', nullable=False),
    sa.Column('transitioning_message', sa.String(length=1024), nullable=True),
    sa.Column('transitioning_progress', sa.Integer(), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('uri', sa.String(length=255), nullable=True),
    sa.Column('agent_account_id', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.ForeignKeyConstraint(['agent_account_id'], ['account.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uuid')
    )
    with op.batch_alter_table('agent', schema=None) as batch_op:
        batch_op.create_index('ix_agent_account', ['account_id'], unique=False)

    op.create_table('process_execution',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('process_instance_id', sa.BigInteger(), nullable=False),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.Column('log', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['process_instance_id'], ['process_instance.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('process_execution', schema=None) as batch_op:
        batch_op.create_index('ix_process_execution_instance', ['process_instance_id'], unique=False)

    op.create_table('stack',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.String(length=1024), nullable=True),
    sa.Column('state', sa.String(length=64), nullable=False),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.Column('removed', sa.BigInteger(), nullable=True),
    sa.Column('transitioning', sa.String(length=16), server_default='no', nullable=False),
    sa.Column('transitioning_message', sa.String(length=1024), nullable=True),
    sa.Column('transitioning_progress', sa.Integer(), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uuid')
    )
    with op.batch_alter_table('stack', schema=None) as batch_op:
        batch_op.create_index('ix_stack_account', ['account_id'], unique=False)

    op.create_table('host',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.String(length=1024), nullable=True),
    sa.Column('state', sa.String(length=64), nullable=False),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.Column('removed', sa.BigInteger(), nullable=True),
    sa.Column('transitioning', sa.String(length=16), server_default='no', nullable=False),
    sa.Column('transitioning_message', sa.String(length=1024), nullable=True),
    sa.Column('transitioning_progress', sa.Integer(), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('agent_id', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uuid')
    )
    with op.batch_alter_table('host', schema=None) as batch_op:
        batch_op.create_index('ix_host_account', ['account_id'], unique=False)
        batch_op.create_index('ix_host_agent', ['agent_id'], unique=False)

    op.create_table('service',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.String(length=1024), nullable=True),
    sa.Column('state', sa.String(length=64), nullable=False),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.Column('removed', sa.BigInteger(), nullable=True),
    sa.Column('transitioning', sa.String(length=16), server_default='no', nullable=False),
    sa.Column('transitioning_message', sa.String(length=1024), nullable=True),
    sa.Column('transitioning_progress', sa.Integer(), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('stack_id', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.ForeignKeyConstraint(['stack_id'], ['stack.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uuid')
    )
    with op.batch_alter_table('service', schema=None) as batch_op:
        batch_op.create_index('ix_service_account', ['account_id'], unique=False)

    op.create_table('container_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.String(length=1024), nullable=True),
    sa.Column('state', sa.String(length=64), nullable=False),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.Column('removed', sa.BigInteger(), nullable=True),
    sa.Column('transitioning', sa.String(length=16), server_default='no', nullable=False),
    sa.Column('transitioning_message', sa.String(length=1024), nullable=True),
    sa.Column('transitioning_progress', sa.Integer(), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('host_id', sa.BigInteger(), nullable=True),
    sa.Column('external_id', sa.String(length=255), nullable=True),
    sa.Column('external_status', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.ForeignKeyConstraint(['host_id'], ['host.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uuid')
    )
    with op.batch_alter_table('container_event', schema=None) as batch_op:
        batch_op.create_index('ix_container_event_account', ['account_id'], unique=False)
        batch_op.create_index('ix_container_event_created', ['created'], unique=False)

    op.create_table('instance',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.String(length=1024), nullable=True),
    sa.Column('state', sa.String(length=64), nullable=False),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.Column('removed', sa.BigInteger(), nullable=True),
    sa.Column('transitioning', sa.String(length=16), server_default='no', nullable=False),
    sa.Column('transitioning_message', sa.String(length=1024), nullable=True),
    sa.Column('transitioning_progress', sa.Integer(), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('host_id', sa.BigInteger(), nullable=True),
    sa.Column('external_id', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.ForeignKeyConstraint(['host_id'], ['host.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uuid')
    )
    with op.batch_alter_table('instance', schema=None) as batch_op:
        batch_op.create_index('ix_instance_account', ['account_id'], unique=False)
        batch_op.create_index('ix_instance_host', ['host_id'], unique=False)

    op.create_table('service_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.String(length=1024), nullable=True),
    sa.Column('state', sa.String(length=64), nullable=False),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.Column('removed', sa.BigInteger(), nullable=True),
    sa.Column('transitioning', sa.String(length=16), server_default='no', nullable=False),
    sa.Column('transitioning_message', sa.String(length=1024), nullable=True),
    sa.Column('transitioning_progress', sa.Integer(), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('host_id', sa.BigInteger(), nullable=True),
    sa.Column('service_id', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.ForeignKeyConstraint(['host_id'], ['host.id'], ),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uuid')
    )
    with op.batch_alter_table('service_event', schema=None) as batch_op:
        batch_op.create_index('ix_service_event_account', ['account_id'], unique=False)
        batch_op.create_index('ix_service_event_created', ['created'], unique=False)

    op.create_table('volume',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.String(length=1024), nullable=True),
    sa.Column('state', sa.String(length=64), nullable=False),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.Column('removed', sa.BigInteger(), nullable=True),
    sa.Column('transitioning', sa.String(length=16), server_default='no', nullable=False),
    sa.Column('transitioning_message', sa.String(length=1024), nullable=True),
    sa.Column('transitioning_progress', sa.Integer(), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('host_id', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.ForeignKeyConstraint(['host_id'], ['host.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uuid')
    )
    with op.batch_alter_table('volume', schema=None) as batch_op:
        batch_op.create_index('ix_volume_account', ['account_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('volume', schema=None) as batch_op:
        batch_op.drop_index('ix_volume_account')

    op.drop_table('volume')
    with op.batch_alter_table('service_event', schema=None) as batch_op:
        batch_op.drop_index('ix_service_event_created')
        batch_op.drop_index('ix_service_event_account')

    op.drop_table('service_event')
    with op.batch_alter_table('instance', schema=None) as batch_op:
        batch_op.drop_index('ix_instance_host')
        batch_op.drop_index('ix_instance_account')

    op.drop_table('instance')
    with op.batch_alter_table('container_event', schema=None) as batch_op:
        batch_op.drop_index('ix_container_event_created')
        batch_op.drop_index('ix_container_event_account')

    op.drop_table('container_event')
    with op.batch_alter_table('service', schema=None) as batch_op:
        batch_op.drop_index('ix_service_account')

    op.drop_table('service')
    with op.batch_alter_table('host', schema=None) as batch_op:
        batch_op.drop_index('ix_host_agent')
        batch_op.drop_index('ix_host_account')

    op.drop_table('host')
    with op.batch_alter_table('stack', schema=None) as batch_op:
        batch_op.drop_index('ix_stack_account')

    op.drop_table('stack')
    with op.batch_alter_table('process_execution', schema=None) as batch_op:
        batch_op.drop_index('ix_process_execution_instance')

    op.drop_table('process_execution')
    with op.batch_alter_table('agent', schema=None) as batch_op:
        batch_op.drop_index('ix_agent_account')

    op.drop_table('agent')
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.drop_index('ix_process_instance_resource')
        batch_op.drop_index('ix_process_instance_ready')
        batch_op.drop_index('ix_process_instance_account')

    op.drop_table('process_instance')
