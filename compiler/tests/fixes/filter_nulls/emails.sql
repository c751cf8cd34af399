-- emails: EmailSchema <- customers
SELECT c.email FROM customers AS c WHERE c.region = 'EU' OR c.region = 'UK'
