COPY (SELECT * FROM payments) TO '/tmp/revstream-golden-copy.csv'
