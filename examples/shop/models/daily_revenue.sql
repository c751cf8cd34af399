-- daily_revenue: DailyRevenueSchema <- orders_enriched
SELECT order_date, SUM(amount) AS revenue, COUNT(*) AS orders
FROM orders_enriched
GROUP BY order_date
