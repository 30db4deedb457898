-- A closer leaderboard straight from the calls table.
SELECT closer,
       COUNT(*) FILTER (WHERE status = 'scheduled' AND attendance = 'showed') AS showed,
       COUNT(*) FILTER (WHERE status = 'scheduled' AND attendance = 'showed' AND closed) AS closed
FROM calls
GROUP BY closer
ORDER BY closer NULLS LAST
