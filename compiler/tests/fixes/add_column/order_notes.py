from sluice import col

from schemas import OrderNoteSchema, OrderSchema


def order_notes(orders: OrderSchema = orders) -> OrderNoteSchema:
    return orders.select(col("order_id"), col("note"))
