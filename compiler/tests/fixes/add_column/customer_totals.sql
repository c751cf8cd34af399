-- customer_totals: CustomerTotalSchema <- orders
SELECT customer_id, SUM(amount) AS total, COUNT(*) AS order_count
FROM orders
GROUP BY customer_id
