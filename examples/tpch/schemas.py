"""Contracts of the TPC-H example: the lake's source tables and every output table."""

from datetime import date

from sluice import Decimal128, Int32, Schema, Source


# --- sources: the tables `sluice tpchgen` loads ---------------------------------------


class LineItem(Schema):
    l_orderkey: int
    l_partkey: int
    l_suppkey: int
    l_linenumber: Int32
    l_quantity: Decimal128(15, 2)
    l_extendedprice: Decimal128(15, 2)
    l_discount: Decimal128(15, 2)
    l_tax: Decimal128(15, 2)
    l_returnflag: str
    l_linestatus: str
    l_shipdate: date
    l_commitdate: date
    l_receiptdate: date
    l_shipinstruct: str
    l_shipmode: str
    l_comment: str


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


class Customer(Schema):
    c_custkey: int
    c_name: str
    c_address: str
    c_nationkey: int
    c_phone: str
    c_acctbal: Decimal128(15, 2)
    c_mktsegment: str
    c_comment: str


class Supplier(Schema):
    s_suppkey: int
    s_name: str
    s_address: str
    s_nationkey: int
    s_phone: str
    s_acctbal: Decimal128(15, 2)
    s_comment: str


class Nation(Schema):
    n_nationkey: int
    n_name: str
    n_regionkey: int
    n_comment: str


class Region(Schema):
    r_regionkey: int
    r_name: str
    r_comment: str


lineitem = Source(LineItem)
orders = Source(Order)
customer = Source(Customer)
supplier = Source(Supplier)
nation = Source(Nation)
region = Source(Region)


# --- outputs -------------------------------------------------------------------------


class PricingSummary(Schema):
    """TPC-H Q1: the pricing summary report."""

    l_returnflag: str
    l_linestatus: str
    sum_qty: Decimal128(25, 2)
    sum_base_price: Decimal128(25, 2)
    sum_disc_price: float
    sum_charge: float
    avg_qty: float
    avg_price: float
    avg_disc: float
    count_order: int


class ShippingPriority(Schema):
    """TPC-H Q3: the ten unshipped orders with the highest revenue."""

    l_orderkey: int
    revenue: float
    o_orderdate: date
    o_shippriority: Int32


class NationRevenue(Schema):
    """TPC-H Q5 for every region: revenue from local suppliers per nation in 1994."""

    r_name: str
    n_name: str
    revenue: float


class NationRevenueShare(Schema):
    """Each nation's share of its region's local-supplier revenue, ranked."""

    r_name: str
    n_name: str
    revenue: float
    share: float
    rank_in_region: int
