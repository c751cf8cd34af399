from sluice import Table, col

from schemas import NetSchema, OrderSchema, RefundSchema


def net(
    orders: OrderSchema = orders,
    archived: OrderSchema = archived_orders,
    refunds: RefundSchema = Table("raw.refunds"),
) -> NetSchema:
    return orders.select(col("order_id"), col("amount"))
