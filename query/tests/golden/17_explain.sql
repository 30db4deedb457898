-- EXPLAIN shows the optimized logical plan only: names, never storage paths.
EXPLAIN SELECT closer, SUM(amount) FROM payments WHERE amount > 1000 GROUP BY closer
