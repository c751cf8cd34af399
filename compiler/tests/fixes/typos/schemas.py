from sluice import Schema, Source


class OrderSchema(Schema):
    order_id: int
    amount: floatt
    customer_id: Int32


class OrderCopySchema(Schema):
    order_id = OrderSchema.order_idd
    customer_id = OrderSchema.customer_id


orders = Source(OrderSchema)
