SELECT payment_id, status, amount, refunded_amount, currency, paid_day, call_id, closer, setter, lead_source
FROM payments
ORDER BY payment_id
