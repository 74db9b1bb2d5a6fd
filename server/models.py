"""Imports every feature's tables so the one metadata is complete (for alembic and tests)."""

from cart.catalog.models import Product, Variant
from cart.orders.models import DealBuyer, DealQuota, Order, OrderLine, Payment
from core.db import Base
from core.outbox import OutboxMessage
from live.room.models import ChatMessage, ShowEvent
from live.shows.models import Show, ShowProduct
from server.accounts.models import Account, Invite, Membership, Shop

metadata = Base.metadata

__all__ = [
    "Account",
    "ChatMessage",
    "DealBuyer",
    "DealQuota",
    "Invite",
    "Membership",
    "Order",
    "OrderLine",
    "OutboxMessage",
    "Payment",
    "Product",
    "Shop",
    "Show",
    "ShowEvent",
    "ShowProduct",
    "Variant",
    "metadata",
]
