from sluice import Schema, Source


class OrderSchema(Schema):
    order_id: int
    customer_id: Int32
    amount: float
    note: str | None


class CustomerTotalSchema(Schema):
    customer_id: Int32  # the customer


class OrderNoteSchema(Schema):
    order_id: int


orders = Source(OrderSchema)
