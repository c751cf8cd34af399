-- pricing_summary: PricingSummary <- lineitem
-- TPC-H Q1 (delta 90 days).
SELECT
    l_returnflag,
    l_linestatus,
    SUM(l_quantity) AS sum_qty,
    SUM(l_extendedprice) AS sum_base_price,
    SUM(CAST(l_extendedprice AS DOUBLE) * (1 - CAST(l_discount AS DOUBLE))) AS sum_disc_price,
    SUM(CAST(l_extendedprice AS DOUBLE) * (1 - CAST(l_discount AS DOUBLE)) * (1 + CAST(l_tax AS DOUBLE))) AS sum_charge,
    AVG(CAST(l_quantity AS DOUBLE)) AS avg_qty,
    AVG(CAST(l_extendedprice AS DOUBLE)) AS avg_price,
    AVG(CAST(l_discount AS DOUBLE)) AS avg_disc,
    COUNT(*) AS count_order
FROM lineitem
WHERE l_shipdate <= DATE '1998-12-01' - INTERVAL '90' DAY
GROUP BY l_returnflag, l_linestatus
ORDER BY l_returnflag, l_linestatus
