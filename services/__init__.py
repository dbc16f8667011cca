"""The four SCRM services."""
