SELECT call_id, status, attendance, offer_made, closed, scheduled_day, closer, setter, lead_source, call_type
FROM calls
ORDER BY call_id
