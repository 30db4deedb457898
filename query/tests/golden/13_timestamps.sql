SELECT event_id, type, occurred_at, day FROM events WHERE type LIKE 'refund%' ORDER BY event_id
