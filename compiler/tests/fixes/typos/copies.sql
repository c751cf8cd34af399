-- copies: OrderCopySchema <- orders
SELECT order_id, customer_id FROM orders
