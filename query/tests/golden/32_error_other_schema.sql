SELECT * FROM other.public.payments
