from datetime import datetime

from sluice import Int32, Schema, Source


class OrderSchema(Schema):
    order_id: int
    customer_id: Int32
    amount: float
    note: str | None
    ordered_at: datetime


class CustomerTotalSchema(Schema):
    customer_id: Int32  # the customer


class OrderNoteSchema(Schema):
    order_id: int


orders = Source(OrderSchema)
