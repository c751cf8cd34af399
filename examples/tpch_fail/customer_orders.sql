-- customer_orders: CustomerOrders <- customer, orders
SELECT
    c_custkey,
    c_mktsegment,
    COUNT(o_orderkey) AS order_count,
    SUM(CAST(o_totalprice AS DOUBLE)) AS total_spent
FROM customer
LEFT JOIN orders ON o_custkey = c_custkey
GROUP BY c_custkey, c_mktsegment
