"""ingest: the platform boundary, both ways."""
