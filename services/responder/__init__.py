"""responder: conversations, reply-time SLAs, agents and the routing queue."""
