SELECT day, currency, cash_collected, refunds, payments_count, refunds_count
FROM metrics_daily
WHERE currency IS NOT NULL AND (cash_collected <> 0 OR refunds <> 0)
ORDER BY day, currency
