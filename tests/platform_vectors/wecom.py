"""WeCom: the SDK sample's published URL check and message (Tencent's ``WXBizMsgCrypt`` sample,
token ``QDG6eK``), and sealed pushes of every kind ingest normalises, made here with the same
scheme."""

import time

from services.ingest.platforms.wechat import MessageCrypt, sha1_signature
from tests.platform_vectors import WebhookCase
from tests.platform_vectors.wechat import sealed

SAMPLE = (
    "Tencent's WXBizMsgCrypt sample: JeffreySu/WeiXinMPSDK "
    "src/Senparc.Weixin.MP/Senparc.Weixin.MP/Tencent/Sample.cs (token, key, CorpID, POST); "
    "sbzhu/weworkapi_python callback/Sample.py (the URL-encoded verify-URL GET)"
)
SAMPLE_TOKEN = "QDG6eK"
SAMPLE_CORP_ID = "wx5823bf96d3bd56c7"
SAMPLE_AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
# GET /cgi-bin/wxpush?msg_signature=5c45ff5e…&timestamp=1409659589&nonce=263014780
#     &echostr=P9nA…%3D%3D (URL-decoded below)
VERIFY_QUERY = {
    "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
    "timestamp": "1409659589",
    "nonce": "263014780",
    "echostr": (
        "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
    ),
}
VERIFY_ANSWER = b"1616140317555161061"  # the echostr's plaintext (decrypted here)
POST_QUERY = {
    "msg_signature": "477715d11cdb4164915debcba66cb864d751f3e6",
    "timestamp": "1409659813",
    "nonce": "1372623149",
}
POST_BODY = (
    b"<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA["
    b"RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3Qczc"
    b"dCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjv"
    b"d4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw"
    b"2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22N"
    b"cx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2u"
    b"yPIGHBZZIs2pDBS8R07+qN+E7Q==]]></Encrypt></xml>"
)
SAMPLE_ACCOUNT = {
    "platform": "wecom", "account_id": "wecom-vectors-sample", "corp_id": SAMPLE_CORP_ID,
    "token": SAMPLE_TOKEN, "encoding_aes_key": SAMPLE_AES_KEY,
}  # fmt: skip

TOKEN = "wecom-vectors-token"
AES_KEY = "WeComVectorsKey0123456789abcdefghijklmnopqr"  # 43 chars: a 32-byte key
CORP_ID = "ww00vectors000001"
ACCOUNT = {"platform": "wecom", "account_id": "wecom-vectors", "corp_id": CORP_ID,
           "token": TOKEN, "encoding_aes_key": AES_KEY, "agent_id": 1000002}  # fmt: skip
MEMBER = "ZhangSan"
RECEIVED = "scrm.message.received.v1"


def push(message: str, *, timestamp: str, nonce: str = "42") -> tuple[bytes, dict[str, str]]:
    return sealed(message.encode(), token=TOKEN, aes_key=AES_KEY, receive_id=CORP_ID,
                  timestamp=timestamp, nonce=nonce, to_user=CORP_ID)  # fmt: skip


def message_xml(kind: str, fields: str, *, msg_id: str | None, create_time: int) -> str:
    msg_id_xml = f"<MsgId>{msg_id}</MsgId>" if msg_id else ""
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{MEMBER}]]></FromUserName><CreateTime>{create_time}"
        f"</CreateTime><MsgType><![CDATA[{kind}]]></MsgType>{fields}{msg_id_xml}"
        f"<AgentID>1000002</AgentID></xml>"
    )


def event_xml(event: str, key: str | None, *, create_time: int) -> str:
    key_xml = f"<EventKey><![CDATA[{key}]]></EventKey>" if key is not None else ""
    return message_xml("event", f"<Event><![CDATA[{event}]]></Event>{key_xml}", msg_id=None,
                       create_time=create_time)  # fmt: skip


_now = int(time.time())
_base = time.time_ns() // 1000
_ts = str(_now)
KINDS: list[tuple[str, str, tuple[str, ...]]] = [
    ("text", message_xml("text", "<Content><![CDATA[报销单]]></Content>", msg_id=f"{_base}1",
                         create_time=_now), (RECEIVED,)),
    ("image", message_xml("image", "<PicUrl><![CDATA[https://p.qpic.cn/x]]></PicUrl><MediaId>"
                          "<![CDATA[wecom-media-1]]></MediaId>", msg_id=f"{_base}2",
                          create_time=_now), (RECEIVED,)),
    ("voice", message_xml("voice", "<MediaId><![CDATA[wecom-media-2]]></MediaId><Format>"
                          "<![CDATA[amr]]></Format>", msg_id=f"{_base}3", create_time=_now),
     (RECEIVED,)),
    ("video", message_xml("video", "<MediaId><![CDATA[wecom-media-3]]></MediaId><ThumbMediaId>"
                          "<![CDATA[wecom-thumb-3]]></ThumbMediaId>", msg_id=f"{_base}4",
                          create_time=_now), (RECEIVED,)),
    ("location", message_xml("location", "<Location_X>39.9</Location_X><Location_Y>116.4"
                             "</Location_Y><Scale>15</Scale><Label><![CDATA[北京]]></Label>",
                             msg_id=f"{_base}5", create_time=_now), (RECEIVED,)),
    ("link", message_xml("link", "<Title><![CDATA[T]]></Title><Description><![CDATA[D]]>"
                         "</Description><Url><![CDATA[https://example.com/w]]></Url>",
                         msg_id=f"{_base}6", create_time=_now), (RECEIVED,)),
    ("subscribe", event_xml("subscribe", None, create_time=_now), ("scrm.fan.followed.v1",)),
    ("unsubscribe", event_xml("unsubscribe", None, create_time=_now),
     ("scrm.fan.unfollowed.v1",)),
    ("menu click", event_xml("click", "#sendmsg#_0_0", create_time=_now), (RECEIVED,)),
    ("enter_agent: not used", event_xml("enter_agent", None, create_time=_now), ()),
]  # fmt: skip

_garbage, _garbage_query = push("not xml at all", timestamp=_ts)
_forged, _forged_query = push(KINDS[0][1], timestamp=_ts)
_other_corp_body = MessageCrypt(AES_KEY, "ww-another-corp").encrypt(KINDS[0][1].encode(), b"x" * 16)
_other_corp = f"<xml><Encrypt><![CDATA[{_other_corp_body}]]></Encrypt></xml>".encode()
_other_corp_query = {"msg_signature": sha1_signature(TOKEN, _ts, "7", _other_corp_body),
                     "timestamp": _ts, "nonce": "7"}  # fmt: skip

_echo = b"5928175032616810435"  # WeCom seals a random string of digits into a URL check
_echostr = MessageCrypt(AES_KEY, CORP_ID).encrypt(_echo, b"e" * 16)
_url_check = {"msg_signature": sha1_signature(TOKEN, _ts, "8", _echostr), "timestamp": _ts,
              "nonce": "8", "echostr": _echostr}  # fmt: skip

CASES = [
    WebhookCase(
        "verify-URL GET: answers the echostr's plaintext", "wecom", ACCOUNT, "GET",
        query=_url_check, answer=_echo,
    ),
    WebhookCase(
        "the sample's verify-URL GET: authentic, but its 2014 timestamp is stale", "wecom",
        SAMPLE_ACCOUNT, "GET", query=VERIFY_QUERY, status=401, source=SAMPLE,
    ),
    WebhookCase(
        "the sample's verify-URL GET with one signature digit changed", "wecom",
        SAMPLE_ACCOUNT, "GET", query={**VERIFY_QUERY, "msg_signature": "6" +
                                      VERIFY_QUERY["msg_signature"][1:]},
        status=401, source=SAMPLE,
    ),
    WebhookCase(
        "the sample's POST: a text 'hello' from mycreate", "wecom", SAMPLE_ACCOUNT, "POST",
        body=POST_BODY, query=POST_QUERY, answer=b"", event_types=(RECEIVED,),
        body_signed=True, source=SAMPLE,
    ),
    WebhookCase(
        "authentic, but the plaintext is not XML", "wecom", ACCOUNT, "POST", body=_garbage,
        query=_garbage_query, status=400, body_signed=True,
    ),
    WebhookCase(
        "msg_signature made with another token", "wecom", ACCOUNT, "POST", body=_forged,
        query={**_forged_query, "msg_signature": sha1_signature("x", _ts, "42", "y")},
        status=401,
    ),
    WebhookCase(
        "signed, but sealed for another corp", "wecom", ACCOUNT, "POST", body=_other_corp,
        query=_other_corp_query, status=401,
    ),
] + [
    WebhookCase(
        f"{name}", "wecom", ACCOUNT, "POST", *push(xml, timestamp=_ts, nonce=f"n{index}"),
        answer=b"", event_types=types, body_signed=True,
    )
    for index, (name, xml, types) in enumerate(KINDS)
]  # fmt: skip
