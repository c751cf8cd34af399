-- order_days: OrderDaySchema <- orders
SELECT order_id, customer_id, CAST(ordered_at AS DATE) AS order_day
FROM orders
