from sluice import col, lit

from schemas import LabelSchema, OrderSchema


def order_labels(orders: OrderSchema = orders) -> LabelSchema:
    # The string before the typo `lable` holds an astral-plane character (2 UTF-16 units).
    return orders.with_columns(lit("café 😀").alias("label")).select(col("order_id"), col("lable"))
