"""Pure responder logic, no I/O."""

from shared.contracts import CommentCreated, FanEvent, MessageReceived


def needs_answer(event: FanEvent) -> bool:
    """A message or a comment asks for an answer; a mere mention in passing does too."""
    if isinstance(event, MessageReceived):
        return event.message_type != "event"
    return isinstance(event, CommentCreated)
