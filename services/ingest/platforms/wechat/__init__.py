"""WeChat Official Accounts (``wechat``) and WeCom (``wecom``): XML pushes, in the clear or sealed
with the ``WXBizMsgCrypt`` scheme (``crypto``), and the customer-service send APIs.

Official Account: the URL check and plain-mode pushes carry ``signature = sha1(sorted(token,
timestamp, nonce))``, which does not cover the body; safe and compatible mode add
``encrypt_type=aes`` and ``msg_signature = sha1(sorted(token, timestamp, nonce, Encrypt))`` and
the body's ``<Encrypt>`` opens to the message. An account configured with an EncodingAESKey only
accepts sealed pushes, so its bodies are always authenticated. WeCom always seals, the URL check
included (its ``echostr`` is a ciphertext whose plaintext is the answer).

Sealed pushes get no freshness check (neither platform's SDK has one; their published vectors
date from 2014): a replay can only repeat the same sealed body, which maps to the same event ids
and the intake drops it, or refuses it once its CreateTime is older than the de-duplication
window. A plain-mode push is different: its signature covers no body, so a
signature/timestamp/nonce triple once seen (the URL check's included, which access logs keep)
would carry any body forever. Plain-mode pushes are therefore refused (``stale_timestamp``) when
their ``timestamp`` is further than ``webhook_tolerance_seconds`` from receipt, and so are URL
checks (GET), whose signature is the same; within the window, the intake lets such a signature
carry only the body it first came with (``signed_without_body``). WeCom's URL check answers
only a plaintext shaped like its echo, never a captured push's. Events carry no MsgId: their id
is ``FromUserName|CreateTime|Event|EventKey``, as WeChat's documentation recommends for
de-duplicating event retries.

Sending: the Official Account takes its access token from the stable-token API (a POST with the
AppSecret in the JSON body, never in a URL). In normal mode that API hands every caller the same
token while it is valid, so several ingest replicas share one token instead of invalidating each
other's, as each call to ``/cgi-bin/token`` does. WeCom's ``gettoken`` takes the corpsecret as a
query parameter: that is WeCom's design, there is no other form.

One job a module: ``xml`` reads a push, ``verify`` checks and opens it, ``normalise`` makes it
canonical events; ``tokens`` caches access tokens and ``send`` sends with them; the adapters,
``official_account`` and ``wecom``, put each platform's pieces together.
"""

from services.ingest.platforms.wechat.crypto import (
    CryptoError,
    MessageCrypt,
    aes_key,
    sha1_signature,
)
from services.ingest.platforms.wechat.official_account import WeChatAccount, WeChatOfficialAccount
from services.ingest.platforms.wechat.wecom import WeCom, WeComAccount

__all__ = [
    "CryptoError",
    "MessageCrypt",
    "WeChatAccount",
    "WeChatOfficialAccount",
    "WeCom",
    "WeComAccount",
    "aes_key",
    "sha1_signature",
]
