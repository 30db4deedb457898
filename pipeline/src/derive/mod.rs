//! The metric definitions of spec/metrics.md as a pure function of a tenant's distinct events.
