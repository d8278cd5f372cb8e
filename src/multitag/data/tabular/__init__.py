"""CSV, TSV, Parquet and JSON lines: whole-file and chunked reading."""
