"""The last node: a loyalty tier per customer.

It has a bug a type checker cannot see: customers who never ordered have no
`total_spent`, fall through every `when`, and get a null tier. The run validates the
output against `CustomerTier` (tier is non-null) before anything is published, so the
run fails here and `main` stays exactly as it was.
"""

import polars as pl

from schemas import CustomerOrders, CustomerTier

GOLD = 250_000.0


def customer_tiers(customers: CustomerOrders = customer_orders) -> CustomerTier:
    tier = (
        pl.when(pl.col("total_spent") >= GOLD)
        .then(pl.lit("gold"))
        .when(pl.col("total_spent") > 0)
        .then(pl.lit("silver"))
    )
    return customers.with_columns(tier=tier).select(["c_custkey", "c_mktsegment", "tier"])
