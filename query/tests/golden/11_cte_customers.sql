WITH active AS (
  SELECT customer_id, currency, mrr FROM subscriptions WHERE mrr > 0
)
SELECT c.customer_id, c.email, a.currency, a.mrr
FROM customers c JOIN active a ON c.customer_id = a.customer_id
ORDER BY c.customer_id
