//! Cutting complete PostgreSQL messages off a read buffer without copying.
