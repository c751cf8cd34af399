-- customer_totals: CustomerTotals <- orders
SELECT customer, country, SUM(amount) AS total, COUNT(*) AS n
FROM orders
GROUP BY customer, country
