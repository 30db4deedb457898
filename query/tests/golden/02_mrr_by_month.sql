-- Net MRR change per month and currency (never summed across currencies).
SELECT date_trunc('month', day) AS month, currency, SUM(amount) AS net_change
FROM mrr_movements
GROUP BY 1, 2
ORDER BY 1, 2
