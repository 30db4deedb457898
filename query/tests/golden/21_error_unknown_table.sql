SELECT * FROM invoices
