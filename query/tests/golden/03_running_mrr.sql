-- MRR at the end of each day with a movement (window over a group by).
SELECT day, SUM(SUM(amount)) OVER (ORDER BY day) AS mrr
FROM mrr_movements
WHERE currency = 'usd'
GROUP BY day
ORDER BY day
