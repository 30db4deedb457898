DROP TABLE events
