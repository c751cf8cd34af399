"""Contracts of the shop pipeline: one schema per table, plus input views."""

from datetime import date, datetime

from sluice import Decimal128, NotNull, Schema, Source, UNION


class OrderSchema(Schema):
    order_id: int
    customer_id: int
    ordered_at: datetime
    status: str
    coupon: UNION(str, None)


class OrderLineSchema(Schema):
    order_id: int
    sku: str
    quantity: int
    unit_price: Decimal128(12, 2)


class CustomerSchema(Schema):
    customer_id: int
    email: UNION(str, None)
    country: str
    signed_up_at: datetime


orders = Source(OrderSchema, name="raw.orders")
order_lines = Source(OrderLineSchema, name="raw.order_lines")
customers = Source(CustomerSchema, name="raw.customers")


class EnrichedOrderSchema(Schema):
    order_id = OrderSchema.order_id
    customer_id = OrderSchema.customer_id
    ordered_at = OrderSchema.ordered_at
    order_date: date
    amount: float
    items: int


class DailyRevenueSchema(Schema):
    order_date: date
    revenue: float
    orders: int


class LtvInput(Schema):
    """What `customer_ltv` needs of its input: a subset of EnrichedOrderSchema."""

    customer_id: int
    amount: float


class LtvSchema(Schema):
    customer_id = EnrichedOrderSchema.customer_id
    lifetime_value: float
    order_count: int


class VipSchema(Schema):
    customer_id = LtvSchema.customer_id
    email = CustomerSchema.email[NotNull]
    lifetime_value = LtvSchema.lifetime_value
