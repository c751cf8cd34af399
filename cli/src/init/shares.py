"""A Python (Polars) node downstream of the SQL node: each customer's share of the total."""

from sluice import col

from schemas import CustomerTotals, Shares


def shares(totals: CustomerTotals = customer_totals) -> Shares:
    return totals.select([
        col("customer"),
        col("total"),
        (col("total") / col("total").sum()).alias("share"),
    ])
