SELECT order_id, '🚚 Zürich' AS store_label /* café 😀 */, amount FROM ordrs
