//! PostgreSQL v3 message tags, typed views and writers.
