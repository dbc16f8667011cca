"""One adapter per platform: verification, parsing and normalisation onto the v1 contracts."""
