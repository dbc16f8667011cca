"""WeChat Official Account: the SDK test's published ciphertexts (Tencent's ``WXBizMsgCryptTest``,
as kept in chanjarster/weixin-java-tools), and plain- and safe-mode pushes of every kind ingest
normalises, signed and sealed here with the same scheme."""

import time

from services.ingest.platforms.wechat import MessageCrypt, sha1_signature
from tests.platform_vectors import WebhookCase

SDK_TEST = (
    "chanjarster/weixin-java-tools weixin-java-common/src/test/java/me/chanjar/weixin/common/"
    "util/crypto/WxCryptUtilTest.java (Tencent's WXBizMsgCryptTest vectors)"
)
# The SDK test's account and fixed values.
SDK_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SDK_TOKEN = "pamtest"
SDK_APP_ID = "wxb11529c136998cb6"
SDK_TIMESTAMP = "1409304348"
SDK_NONCE = "xxxxxx"
SDK_RANDOM = b"aaaabbbbccccdddd"
SDK_XML_FORMAT = (
    "<xml><ToUserName><![CDATA[toUser]]></ToUserName><Encrypt><![CDATA[%s]]></Encrypt></xml>"
)
SDK_REPLY = "我是中文abcd123"
SDK_AFTER_AES_ENCRYPT = (
    "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
)
SDK_REPLY2 = (
    "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUserName>"
    "<![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime><MsgType>"
    "<![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqd"
    "Ukjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBackReplyVideo]]></Title>"
    "<Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>"
)
SDK_AFTER_AES_ENCRYPT2 = (
    "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlk"
    "upqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5"
    "nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJuc"
    "QHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92"
    "vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+Rd"
    "xSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8"
    "xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkd"
    "PrEeOwofJb"
)

SDK_ACCOUNT = {
    "platform": "wechat", "account_id": "wechat-vectors-sdk", "app_id": SDK_APP_ID,
    "token": SDK_TOKEN, "encoding_aes_key": SDK_AES_KEY,
}  # fmt: skip

# Our own accounts: one in plain mode, one in safe mode.
TOKEN = "wechat-vectors-token"
AES_KEY = "WeChatVectorsKey0123456789abcdefghijklmnopq"  # 43 chars: a 32-byte key
APP_ID = "wx00vectors0000001"
PLAIN_ACCOUNT = {"platform": "wechat", "account_id": "wechat-vectors-plain", "app_id": APP_ID,
                 "token": TOKEN}  # fmt: skip
SAFE_ACCOUNT = {"platform": "wechat", "account_id": "wechat-vectors-safe", "app_id": APP_ID,
                "token": TOKEN, "encoding_aes_key": AES_KEY}  # fmt: skip
ORIGINAL_ID = "gh_vectors0001"
FAN = "oVectorsFan000000000000001"


def plain_query(token: str, timestamp: str, nonce: str) -> dict[str, str]:
    """The query of a URL check or plain-mode push: ``signature`` over token/timestamp/nonce."""
    return {"signature": sha1_signature(token, timestamp, nonce), "timestamp": timestamp,
            "nonce": nonce}  # fmt: skip


def sealed(
    message: bytes, *, token: str, aes_key: str, receive_id: str, timestamp: str, nonce: str,
    random16: bytes = b"0123456789abcdef", to_user: str = ORIGINAL_ID,
    extra_query: dict[str, str] | None = None,
) -> tuple[bytes, dict[str, str]]:  # fmt: skip
    """A safe-mode push: the body with ``<Encrypt>``, and its query with ``msg_signature``."""
    encrypt = MessageCrypt(aes_key, receive_id).encrypt(message, random16)
    body = (
        f"<xml><ToUserName><![CDATA[{to_user}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    ).encode()
    query = {"msg_signature": sha1_signature(token, timestamp, nonce, encrypt),
             "timestamp": timestamp, "nonce": nonce, **(extra_query or {})}  # fmt: skip
    return body, query


def safe_push(
    message: str, *, timestamp: str, nonce: str = "17011"
) -> tuple[bytes, dict[str, str]]:
    body, query = sealed(
        message.encode(), token=TOKEN, aes_key=AES_KEY, receive_id=APP_ID,
        timestamp=timestamp, nonce=nonce, extra_query={"encrypt_type": "aes"},
    )  # fmt: skip
    query |= plain_query(TOKEN, timestamp, nonce)  # WeChat sends both signatures
    return body, query


def message_xml(kind: str, fields: str, *, msg_id: str | None, create_time: int,
                fan: str = FAN) -> str:  # fmt: skip
    msg_id_xml = f"<MsgId>{msg_id}</MsgId>" if msg_id else ""
    return (
        f"<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{fan}]]></FromUserName><CreateTime>{create_time}</CreateTime>"
        f"<MsgType><![CDATA[{kind}]]></MsgType>{fields}{msg_id_xml}</xml>"
    )


def event_xml(event: str, key: str | None, *, create_time: int, fan: str = FAN) -> str:
    key_xml = f"<EventKey><![CDATA[{key}]]></EventKey>" if key is not None else ""
    return message_xml("event", f"<Event><![CDATA[{event}]]></Event>{key_xml}", msg_id=None,
                       create_time=create_time, fan=fan)  # fmt: skip


_now = int(time.time())
_base = time.time_ns() // 1000  # message ids unique to this run
_ts = str(_now)  # plain-mode pushes are refused beyond webhook_tolerance_seconds (300) of it
_an_hour_ago = str(_now - 3600)
RECEIVED = "scrm.message.received.v1"

# (name, message XML, expected event types)
KINDS: list[tuple[str, str, tuple[str, ...]]] = [
    ("text", message_xml("text", "<Content><![CDATA[你好, hello]]></Content>",
                         msg_id=f"{_base}1", create_time=_now), (RECEIVED,)),
    ("image", message_xml("image", "<PicUrl><![CDATA[http://mmbiz.qpic.cn/x.jpg]]></PicUrl>"
                          "<MediaId><![CDATA[media-image-1]]></MediaId>",
                          msg_id=f"{_base}2", create_time=_now), (RECEIVED,)),
    ("voice", message_xml("voice", "<MediaId><![CDATA[media-voice-1]]></MediaId><Format>"
                          "<![CDATA[amr]]></Format><Recognition><![CDATA[你好]]></Recognition>",
                          msg_id=f"{_base}3", create_time=_now), (RECEIVED,)),
    ("video", message_xml("video", "<MediaId><![CDATA[media-video-1]]></MediaId>"
                          "<ThumbMediaId><![CDATA[thumb-1]]></ThumbMediaId>",
                          msg_id=f"{_base}4", create_time=_now), (RECEIVED,)),
    ("shortvideo", message_xml("shortvideo", "<MediaId><![CDATA[media-video-2]]></MediaId>"
                               "<ThumbMediaId><![CDATA[thumb-2]]></ThumbMediaId>",
                               msg_id=f"{_base}5", create_time=_now), (RECEIVED,)),
    ("location", message_xml("location", "<Location_X>23.134521</Location_X><Location_Y>"
                             "113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[广州]]>"
                             "</Label>", msg_id=f"{_base}6", create_time=_now), (RECEIVED,)),
    ("link", message_xml("link", "<Title><![CDATA[A title]]></Title><Description><![CDATA[A "
                         "description]]></Description><Url><![CDATA[https://example.com/a]]>"
                         "</Url>", msg_id=f"{_base}7", create_time=_now), (RECEIVED,)),
    ("subscribe by scanning a code", event_xml("subscribe", "qrscene_123123",
                                               create_time=_now), ("scrm.fan.followed.v1",)),
    ("unsubscribe", event_xml("unsubscribe", None, create_time=_now),
     ("scrm.fan.unfollowed.v1",)),
    ("menu CLICK", event_xml("CLICK", "V1001_GOOD", create_time=_now), (RECEIVED,)),
    ("SCAN by a follower", event_xml("SCAN", "123123", create_time=_now + 1), (RECEIVED,)),
    ("menu VIEW: not used", event_xml("VIEW", "https://example.com/menu", create_time=_now), ()),
    ("LOCATION report: not used", event_xml("LOCATION", None, create_time=_now + 2), ()),
]  # fmt: skip

_plain_text = message_xml("text", "<Content><![CDATA[plain mode]]></Content>",
                          msg_id=f"{_base}8", create_time=_now).encode()  # fmt: skip
_stale_text = message_xml("text", "<Content><![CDATA[replayed]]></Content>",
                          msg_id=f"{_base}9", create_time=_now).encode()  # fmt: skip
_sdk_query = {"timestamp": SDK_TIMESTAMP, "nonce": SDK_NONCE, "encrypt_type": "aes"}
_sdk_body2 = (SDK_XML_FORMAT % SDK_AFTER_AES_ENCRYPT2).encode()
_sdk_body1 = (SDK_XML_FORMAT % SDK_AFTER_AES_ENCRYPT).encode()
_garbage, _garbage_query = safe_push("<xml><FromUserName>fan</FromUserName></xml>", timestamp=_ts)
_forged, _forged_query = safe_push(KINDS[0][1], timestamp=_ts, nonce="forged")

CASES = [
    WebhookCase(
        "URL check (GET): echoes echostr", "wechat", SAFE_ACCOUNT, "GET",
        query={**plain_query(TOKEN, _ts, "9876"), "echostr": "8327398746329874"},
        answer=b"8327398746329874",
    ),
    WebhookCase(
        "URL check with a wrong signature", "wechat", PLAIN_ACCOUNT, "GET", status=401,
        query={**plain_query("another-token", _ts, "9876"), "echostr": "1"},
    ),
    WebhookCase(
        "plain-mode text (the body is not signed in plain mode)", "wechat", PLAIN_ACCOUNT,
        "POST", body=_plain_text, query=plain_query(TOKEN, _ts, "555"), answer=b"success",
        event_types=(RECEIVED,),
    ),
    WebhookCase(
        "plain mode, wrong signature", "wechat", PLAIN_ACCOUNT, "POST", body=_plain_text,
        query=plain_query("another-token", _ts, "555"), status=401,
    ),
    WebhookCase(
        "plain mode, a stale (1 hour old) timestamp: a replayed signature", "wechat",
        PLAIN_ACCOUNT, "POST", body=_stale_text, query=plain_query(TOKEN, _an_hour_ago, "556"),
        status=401,
    ),
    WebhookCase(
        "URL check (GET) with a stale (1 hour old) timestamp", "wechat", PLAIN_ACCOUNT,
        "GET", query={**plain_query(TOKEN, _an_hour_ago, "9876"), "echostr": "5551212"},
        status=401,
    ),
    WebhookCase(
        "plain-mode push to a safe-mode account", "wechat", SAFE_ACCOUNT, "POST",
        body=_plain_text, query=plain_query(TOKEN, _ts, "555"), status=401,
    ),
    WebhookCase(
        "the SDK test's afterAesEncrypt2 (a video passive reply: no MsgId, nothing to produce)",
        "wechat", SDK_ACCOUNT, "POST", body=_sdk_body2,
        query={**_sdk_query, "msg_signature": sha1_signature(SDK_TOKEN, SDK_TIMESTAMP, SDK_NONCE,
                                                             SDK_AFTER_AES_ENCRYPT2)},
        answer=b"success", body_signed=True,
        source=SDK_TEST + "; msg_signature computed here over the published ciphertext",
    ),
    WebhookCase(
        "the SDK test's afterAesEncrypt (authentic, but the plaintext is not XML)", "wechat",
        SDK_ACCOUNT, "POST", body=_sdk_body1, status=400, body_signed=True,
        query={**_sdk_query, "msg_signature": sha1_signature(SDK_TOKEN, SDK_TIMESTAMP, SDK_NONCE,
                                                             SDK_AFTER_AES_ENCRYPT)},
        source=SDK_TEST + "; msg_signature computed here over the published ciphertext",
    ),
    WebhookCase(
        "safe mode: authentic, but no MsgType", "wechat", SAFE_ACCOUNT, "POST", body=_garbage,
        query=_garbage_query, status=400, body_signed=True,
    ),
    WebhookCase(
        "safe mode: msg_signature of another nonce", "wechat", SAFE_ACCOUNT, "POST",
        body=_forged, query={**_forged_query, "nonce": "17011"}, status=401,
    ),
] + [
    WebhookCase(
        f"safe mode: {name}", "wechat", SAFE_ACCOUNT, "POST",
        *safe_push(xml, timestamp=_ts, nonce=f"n{index}"),
        answer=b"success", event_types=types, body_signed=True,
    )
    for index, (name, xml, types) in enumerate(KINDS)
]  # fmt: skip
