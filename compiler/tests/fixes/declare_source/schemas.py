from sluice import Schema


class OrderSchema(Schema):
    order_id: int
    amount: float


class RefundSchema(Schema):
    order_id: int
    refunded: float


class NetSchema(Schema):
    order_id: int
    amount: float
