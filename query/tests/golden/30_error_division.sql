SELECT amount / (amount - amount) FROM payments
