-- orders_enriched: EnrichedOrderSchema <- raw.orders, raw.order_lines
SELECT
    o.order_id,
    o.customer_id,
    o.ordered_at,
    CAST(o.ordered_at AS DATE) AS order_date,
    CAST(SUM(l.quantity * l.unit_price) AS DOUBLE) AS amount,
    COUNT(*) AS items
FROM raw.orders AS o
JOIN raw.order_lines AS l ON l.order_id = o.order_id
WHERE o.status <> 'cancelled'
GROUP BY o.order_id, o.customer_id, o.ordered_at
