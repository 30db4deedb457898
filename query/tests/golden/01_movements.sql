-- Every MRR movement of the tenant, in order: new, churn, reactivation,
-- expansion and contraction, with tenant-local days.
SELECT day, customer_id, currency, movement, amount, mrr_before, mrr_after
FROM mrr_movements
ORDER BY occurred_at, customer_id
