-- phones: PhoneSchema <- customers
SELECT customer_id, phone
FROM customers
