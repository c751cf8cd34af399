"""Schemas: the contracts of the tables. `orders` is a source table in the lake."""

from sluice import Schema, Source


class Orders(Schema):
    id: int
    customer: str
    amount: float
    country: str


orders = Source(Orders)


class CustomerTotals(Schema):
    customer: str
    country: str
    total: float
    n: int


class Shares(Schema):
    customer: str
    total: float
    share: float
