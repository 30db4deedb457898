SELECT * INTO stolen FROM payments
