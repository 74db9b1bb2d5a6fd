"""orders, payments and flash-deal quotas

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 12:55:45.052430
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('deal_quotas',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('show_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.Column('units', sa.Integer(), nullable=False),
    sa.Column('units_left', sa.Integer(), nullable=False),
    sa.Column('per_buyer', sa.Integer(), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('units_left <= units', name=op.f('ck_deal_quotas_units_left_within_units')),
    sa.CheckConstraint('units_left >= 0', name=op.f('ck_deal_quotas_units_left_not_negative')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_deal_quotas_product_id_products'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['show_id'], ['shows.id'], name=op.f('fk_deal_quotas_show_id_shows'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deal_quotas'))
    )
    with op.batch_alter_table('deal_quotas', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deal_quotas_show_id'), ['show_id'], unique=False)

    op.create_table('orders',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('show_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('buyer', sa.String(length=80), nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('display_name', sa.String(length=80), nullable=False),
    sa.Column('idempotency_key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('items', sa.Integer(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('shipping_address', sa.JSON(), nullable=False),
    sa.Column('pinned_product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('payment_provider', sa.String(length=32), nullable=False),
    sa.Column('failure', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('fulfilled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refunded_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('total >= 0', name=op.f('ck_orders_total_not_negative')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_orders_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_orders_shop_id_shops'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['show_id'], ['shows.id'], name=op.f('fk_orders_show_id_shows'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('buyer', 'idempotency_key', name=op.f('uq_orders_buyer_idempotency_key'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_buyer_id', ['buyer', 'id'], unique=False)
        batch_op.create_index('ix_orders_show_id_id', ['show_id', 'id'], unique=False)
        batch_op.create_index('ix_orders_status_created_at', ['status', 'created_at'], unique=False)

    op.create_table('deal_buyers',
    sa.Column('deal_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('buyer', sa.String(length=80), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.CheckConstraint('quantity >= 0', name=op.f('ck_deal_buyers_quantity_not_negative')),
    sa.ForeignKeyConstraint(['deal_id'], ['deal_quotas.id'], name=op.f('fk_deal_buyers_deal_id_deal_quotas'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('deal_id', 'buyer', name=op.f('pk_deal_buyers'))
    )
    op.create_table('order_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('variant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price', sa.BigInteger(), nullable=False),
    sa.Column('deal_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('deal_quantity', sa.Integer(), nullable=False),
    sa.Column('deal_price', sa.BigInteger(), nullable=True),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('deal_quantity >= 0 AND deal_quantity <= quantity', name=op.f('ck_order_lines_deal_quantity')),
    sa.CheckConstraint('quantity >= 1', name=op.f('ck_order_lines_quantity_positive')),
    sa.ForeignKeyConstraint(['deal_id'], ['deal_quotas.id'], name=op.f('fk_order_lines_deal_id_deal_quotas')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_lines_order_id_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_order_lines_product_id_products')),
    sa.ForeignKeyConstraint(['variant_id'], ['variants.id'], name=op.f('fk_order_lines_variant_id_variants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_lines'))
    )
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_lines_deal_id'), ['deal_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_order_lines_order_id'), ['order_id'], unique=False)

    op.create_table('payments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=False),
    sa.Column('card_brand', sa.String(length=20), nullable=False),
    sa.Column('card_last4', sa.String(length=4), nullable=False),
    sa.Column('message', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_payments_order_id_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments'))
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payments_order_id'), ['order_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_order_id'))

    op.drop_table('payments')
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_lines_order_id'))
        batch_op.drop_index(batch_op.f('ix_order_lines_deal_id'))

    op.drop_table('order_lines')
    op.drop_table('deal_buyers')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_status_created_at')
        batch_op.drop_index('ix_orders_show_id_id')
        batch_op.drop_index('ix_orders_buyer_id')

    op.drop_table('orders')
    with op.batch_alter_table('deal_quotas', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deal_quotas_show_id'))

    op.drop_table('deal_quotas')
