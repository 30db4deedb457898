-- The table holds only this tenant's rows, whatever the query asks for.
SELECT tenant_id, COUNT(*) AS n FROM events GROUP BY tenant_id
