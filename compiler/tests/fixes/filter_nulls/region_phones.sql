-- region_phones: RegionPhoneSchema <- customers
SELECT c.region, c.phone AS mobile, COUNT(*) AS customers
FROM customers AS c
JOIN customers AS d ON d.customer_id = c.customer_id
GROUP BY c.region, c.phone
