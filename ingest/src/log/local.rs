//! The embedded durable local log: partitioned segment files, CRC-framed records, group-committed fsync.
