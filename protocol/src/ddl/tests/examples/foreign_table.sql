CREATE FOREIGN TABLE
  IF NOT EXISTS tf1_f ( i INT, j VARCHAR ) SERVER S1
  OPTIONS ( schema_name 'public', table_name 'tf1_data' )
  WITH PUSHDOWN;