SELECT COUNT(*) AS n FROM events WHERE tenant_id IN (SELECT 'beta' UNION ALL SELECT tenant_id FROM events)
