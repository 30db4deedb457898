SELECT customer_id FROM subscriptions WHERE 1 = 0
