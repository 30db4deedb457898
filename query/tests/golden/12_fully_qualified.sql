SELECT COUNT(*) AS n FROM datafusion.public.subscriptions
