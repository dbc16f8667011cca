"""X (Twitter) Account Activity API: the CRC handshake, ``x-twitter-webhooks-signature`` over
the raw body (both ``sha256=`` + base64 HMAC-SHA256 with the app's consumer secret), the
activity payload of one subscribed user, and direct messages out through the v2 DM API.

The CRC handshake (a GET with ``crc_token``) is answered with ``{"response_token":
x_signature(crc_token)}``; since that is the same HMAC X puts on its pushes, only a token of X's
opaque shape is signed. A push whose ``for_user_id`` is not the account's ``user_id`` is refused
(400). Retweets and quotes of the brand's tweets become shares (a quote that also replies to the
brand is a comment), replies to and mentions of the brand comments, likes of its tweets
reactions, follows and unfollows of it themselves, and direct messages to it messages; what the
brand itself did is dropped. Times are X's epoch milliseconds, else its ``created_at``,
else receipt. X's DM API takes no idempotency key: a crash after X accepted a reply sends it
again on restart.

The package, one job a file: ``account`` (the account model), ``verification`` (the handshake
and the signature), ``payloads`` (what X pushes), ``normalise`` (a push onto the v1 contracts),
``send`` (replies), and ``adapter`` (what ingest registers).
"""

from services.ingest.platforms.x.account import XAccount
from services.ingest.platforms.x.adapter import XAccountActivity
from services.ingest.platforms.x.verification import x_signature

__all__ = ["XAccount", "XAccountActivity", "x_signature"]
