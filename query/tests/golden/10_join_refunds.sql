-- Refunds with their payment's attribution.
SELECT r.refund_id, r.amount, r.refunded_day, p.payment_id, p.closer
FROM refunds r LEFT JOIN payments p ON r.payment_id = p.payment_id AND r.source = p.source
ORDER BY r.refund_id
