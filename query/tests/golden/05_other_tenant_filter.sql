SELECT COUNT(*) AS n FROM payments WHERE tenant_id = 'beta' OR tenant_id = 'gamma'
