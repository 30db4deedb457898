INSERT INTO events SELECT * FROM events
