"""Local runtime helpers: real backing services for tests and benchmarks, without Docker."""
