"""Report contracts, in a module that imports only what it uses."""

from sluice import Schema


class OrderDaySchema(Schema):
    order_id: int
