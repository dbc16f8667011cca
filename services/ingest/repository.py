"""All SQL of ingest: none yet. The inbound path keeps no state; retries are de-duplicated by
their deterministic event ids downstream."""
