"""What every SCRM service needs: settings, event contracts, Kafka plumbing, DB base, ops."""
