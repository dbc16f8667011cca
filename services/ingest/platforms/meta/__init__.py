"""Meta's Graph API webhooks: Messenger (``object=page``), Instagram (``object=instagram``) and
the WhatsApp Cloud API (``object=whatsapp_business_account``), one adapter for all three.

Verification: the URL handshake is ``GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…``
answered with the challenge verbatim; every push carries ``X-Hub-Signature-256: sha256=<hex
HMAC-SHA256(app_secret, raw body)>``. Meta escapes non-ASCII as ``\\uXXXX`` in the bytes it signs,
so the check is over ``request.body`` exactly as received, never over a re-serialisation.

A push is ``{"object": …, "entry": [{…, "messaging": […], "changes": […]}, …]}``: several entries
with several events each, all of which become events. The envelope (``object`` and the ``entry``
list) must be readable, or the push is refused (400). Each entry, messaging item, change and
WhatsApp message is then read on its own: one that cannot be read is skipped (a warning with the
platform, the account and the validation errors, never the payload) and the rest become events,
since Meta retries the identical body and a 400 would lose the good events in it for good. Only
when every item of a non-empty batch is unreadable is the push refused.

Attribution: Meta has one callback URL per app and object type, so every page, Instagram account
and WhatsApp phone number with the app installed delivers to the same URL, and one push may carry
entries for several of them. Without ``object_id`` on the account every entry is credited to the
account the webhook path names (one app per page or number). Set ``object_id`` (the page id, the
Instagram professional account id, the WhatsApp phone_number_id) whenever one app serves several
pages or numbers: entries for another object (``entry.id``; WhatsApp:
``changes[].value.metadata.phone_number_id``) are then skipped, not errors; they belong to another
configured account, whose own webhook URL the brand should use.

The package, one job a file: ``account`` (the account model), ``verification`` (the handshake
and the signature), ``payloads`` and ``whatsapp_payloads`` (what Meta pushes), ``normalise`` (a
push read entry by entry) with ``messaging``, ``changes`` and ``whatsapp`` (each item onto the
v1 contracts), ``send`` (replies), and ``adapter`` (what ingest registers).
"""

from services.ingest.platforms.meta.account import MetaAccount, MetaPlatform
from services.ingest.platforms.meta.adapter import MetaWebhooks
from services.ingest.platforms.meta.verification import (
    answer_challenge,
    meta_signature,
    verify_meta_signature,
)

__all__ = [
    "MetaAccount",
    "MetaPlatform",
    "MetaWebhooks",
    "answer_challenge",
    "meta_signature",
    "verify_meta_signature",
]
