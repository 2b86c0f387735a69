//! Authentication exchanges (md5, SCRAM-SHA-256) as state machines without I/O.
