"""A Polars node: each nation's share of its region's revenue, ranked within the region."""

import polars as pl

from schemas import NationRevenue, NationRevenueShare


def nation_revenue_share(nations: NationRevenue = nation_revenue) -> NationRevenueShare:
    return (
        nations.with_columns(
            share=pl.col("revenue") / pl.col("revenue").sum().over("r_name"),
            rank_in_region=pl.col("revenue").rank("ordinal", descending=True).over("r_name").cast(pl.Int64),
        )
        .select(["r_name", "n_name", "revenue", "share", "rank_in_region"])
        .sort(["r_name", "rank_in_region"])
    )
