"""Customer analytics in Python (Polars bodies)."""

from sluice import Table, col

from schemas import CustomerSchema, LtvInput, LtvSchema, VipSchema


def customer_ltv(orders: LtvInput = Table("orders_enriched")) -> LtvSchema:
    return orders.group_by("customer_id").agg(
        col("amount").sum().alias("lifetime_value"),
        col("amount").count().alias("order_count"),
    )


def vip_customers(ltv: LtvSchema = customer_ltv, people: CustomerSchema = customers) -> VipSchema:
    top = ltv.filter(col("lifetime_value") > 1000)
    return (
        top.join(people, on="customer_id", how="inner")
        .filter(col("email").is_not_null())
        .select(col("customer_id"), col("email"), col("lifetime_value"))
    )
