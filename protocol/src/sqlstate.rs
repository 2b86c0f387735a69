//! SQLSTATE error codes as named constants.
