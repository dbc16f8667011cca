"""The agent console: a page and its assets, plain files served by responder (no build step)."""
