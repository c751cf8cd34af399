"""Contracts of the failing TPC-H example: customers, their orders, and loyalty tiers."""

from datetime import date

from sluice import Decimal128, Int32, Schema, Source, UNION


class Customer(Schema):
    c_custkey: int
    c_name: str
    c_address: str
    c_nationkey: int
    c_phone: str
    c_acctbal: Decimal128(15, 2)
    c_mktsegment: str
    c_comment: str


class Order(Schema):
    o_orderkey: int
    o_custkey: int
    o_orderstatus: str
    o_totalprice: Decimal128(15, 2)
    o_orderdate: date
    o_orderpriority: str
    o_clerk: str
    o_shippriority: Int32
    o_comment: str


customer = Source(Customer)
orders = Source(Order)


class CustomerOrders(Schema):
    """Every customer with their order count and spend (none for a third of them)."""

    c_custkey: int
    c_mktsegment: str
    order_count: int
    total_spent: UNION(float, None)


class CustomerTier(Schema):
    """A loyalty tier for every customer: `tier` must never be null."""

    c_custkey: int
    c_mktsegment: str
    tier: str
