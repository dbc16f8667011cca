"""scoring: fan identities and real-time fan profiles."""
