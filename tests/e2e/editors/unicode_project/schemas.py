from sluice import Schema, Source


class OrderSchema(Schema):
    order_id: int
    store_id: int
    amount: float


class LabelSchema(Schema):
    order_id: int
    label: str


orders = Source(OrderSchema)
