//! The lexer, statement splitter and classifier for PostgreSQL SQL text.
