"""WeChat Official Account: every message and event kind, and fuzzing."""

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.platforms.base import MalformedPayload, verify_push
from shared.contracts import FanFollowed, FanUnfollowed, MessageReceived
from shared.events import event_id
from tests.platform_vectors import wechat as vectors
from tests.unit.wechat_helpers import (
    ADAPTER,
    NOW,
    PLAIN,
    SAFE,
    SDK,
    TS,
    events,
    msg,
    only,
    only_protocol_errors,
    push,
    request,
)


class TestNormalise:
    def test_text(self) -> None:
        event = events(msg("text", "<Content><![CDATA[你好 <b>]]></Content>"))[0]
        data = event.data
        assert isinstance(data, MessageReceived)
        assert (data.platform, data.account, data.user_id) == ("wechat", SAFE.account_id,
                                                               vectors.FAN)  # fmt: skip
        assert (data.message_id, data.platform_event_id) == ("6054768590064713728",) * 2
        assert (data.message_type, data.text) == ("text", "你好 <b>")
        assert data.occurred_at == datetime.fromtimestamp(1409735668, UTC)
        assert event.subject == f"wechat:{SAFE.account_id}:{vectors.FAN}"
        assert event.id == event_id("wechat", SAFE.account_id, data.event_type,
                                    "6054768590064713728")  # fmt: skip
        assert event.time == data.occurred_at

    def test_image(self) -> None:
        data = only(msg("image", "<PicUrl><![CDATA[http://p/x.jpg]]></PicUrl>"
                                 "<MediaId><![CDATA[m1]]></MediaId>"))  # fmt: skip
        assert data.message_type == "image"
        assert [(m.kind, m.platform_media_id, m.url) for m in data.media] == [
            ("image", "m1", "http://p/x.jpg")
        ]

    def test_voice_with_recognition(self) -> None:
        data = only(msg("voice", "<MediaId>v1</MediaId><Format>AMR</Format>"
                                 "<Recognition><![CDATA[腾讯]]></Recognition>"))  # fmt: skip
        assert (data.message_type, data.text) == ("voice", "腾讯")
        assert [(m.kind, m.platform_media_id, m.mime_type) for m in data.media] == [
            ("voice", "v1", "audio/amr")
        ]

    @pytest.mark.parametrize("kind", ["video", "shortvideo"])
    def test_video(self, kind: str) -> None:
        data = only(msg(kind, "<MediaId>vid</MediaId><ThumbMediaId>th</ThumbMediaId>"))
        assert data.message_type == "video"
        assert [(m.kind, m.platform_media_id) for m in data.media] == [("video", "vid")]

    def test_location(self) -> None:
        fields = (
            "<Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y>"
            "<Scale>20</Scale><Label>位置信息</Label>"
        )
        data = only(msg("location", fields))
        assert (data.message_type, data.text) == ("location", "位置信息")
        assert [(m.kind, m.url) for m in data.media] == [("location", "geo:23.134521,113.358803")]

    def test_link(self) -> None:
        data = only(msg("link", "<Title>T</Title><Description>D</Description>"
                                "<Url>https://e.com/a</Url>"))  # fmt: skip
        assert (data.message_type, data.text) == ("link", "T\nD")
        assert [(m.kind, m.url) for m in data.media] == [("link", "https://e.com/a")]

    def test_an_unknown_message_type_is_other(self) -> None:
        data = only(msg("miniprogrampage", "<Title>x</Title>"))
        assert (data.message_type, data.text, data.media) == ("other", None, ())

    def test_an_unknown_message_type_without_msg_id_is_dropped(self) -> None:
        assert events(vectors.message_xml("newkind", "", msg_id=None, create_time=1)) == []

    def test_subscribe_by_scanning_a_code(self) -> None:
        (event,) = events(vectors.event_xml("subscribe", "qrscene_123123", create_time=1409735668))
        assert isinstance(event.data, FanFollowed)
        composite = f"{vectors.FAN}|1409735668|subscribe|qrscene_123123"
        assert event.data.platform_event_id == composite
        assert event.id == event_id("wechat", SAFE.account_id, "scrm.fan.followed.v1", composite)

    def test_unsubscribe(self) -> None:
        data = only(vectors.event_xml("unsubscribe", None, create_time=1409735668))
        assert isinstance(data, FanUnfollowed)
        assert data.user_id == vectors.FAN

    def test_click_is_a_message_of_type_event_with_the_key_as_text(self) -> None:
        data = only(vectors.event_xml("CLICK", "V1001_GOOD", create_time=1409735668))
        assert isinstance(data, MessageReceived)
        assert (data.message_type, data.text) == ("event", "V1001_GOOD")

    def test_scan(self) -> None:
        data = only(vectors.event_xml("SCAN", "123123", create_time=1409735668))
        assert (data.message_type, data.text) == ("event", "123123")

    @pytest.mark.parametrize("event", ["VIEW", "LOCATION", "TEMPLATESENDJOBFINISH", "", "WHAT"])
    def test_events_the_system_does_not_use_give_nothing(self, event: str) -> None:
        assert events(vectors.event_xml(event, "k", create_time=1409735668)) == []

    def test_a_retry_gives_the_same_event_ids(self) -> None:
        xml = vectors.event_xml("subscribe", None, create_time=1409735668)
        first = [e.id for e in events(xml)]
        again = push(xml, nonce="another-nonce")  # WeChat re-signs a retry
        assert [e.id for e in ADAPTER.normalise(SAFE, verify_push(ADAPTER, SAFE, again))] == first
        text = msg("text", "<Content>x</Content>")
        assert [e.id for e in events(text)] == [e.id for e in events(text)]

    def test_different_events_of_one_fan_at_one_second_differ(self) -> None:
        ids = {e.id for kind in ("subscribe", "CLICK", "SCAN")
               for e in events(vectors.event_xml(kind, "k", create_time=1))}  # fmt: skip
        assert len(ids) == 3

    def test_without_create_time_the_time_of_receipt(self) -> None:
        xml = "<xml><FromUserName>u</FromUserName><MsgType>text</MsgType><MsgId>1</MsgId></xml>"
        assert only(xml).occurred_at == NOW

    @pytest.mark.parametrize(
        "xml",
        [
            "<xml><MsgType>text</MsgType><MsgId>1</MsgId></xml>",  # no FromUserName
            "<xml><FromUserName>u</FromUserName><MsgId>1</MsgId></xml>",  # no MsgType
            "<xml><FromUserName>u</FromUserName><MsgType>text</MsgType><CreateTime>soon"
            "</CreateTime></xml>",
            "<xml><FromUserName>u</FromUserName><MsgType>location</MsgType><MsgId>1</MsgId>"
            "<Location_X>north</Location_X></xml>",
            "<notxml><FromUserName>u</FromUserName></notxml>",
            "<xml><FromUserName>u</FromUserName>",
            "not xml",
            '<!DOCTYPE x [<!ENTITY a "aaa">]><xml><FromUserName>&a;</FromUserName></xml>',
            "<xml><FromUserName>u</FromUserName><MsgType>text</MsgType><MsgId>1</MsgId>"
            f"<Content>{'x' * 20_001}</Content></xml>",
        ],
        ids=["no-user", "no-type", "bad-time", "bad-location", "root", "truncated", "text",
             "entities", "too-long"],
    )  # fmt: skip
    def test_authentic_but_unreadable_is_malformed(self, xml: str) -> None:
        req = push(xml)
        with pytest.raises(MalformedPayload):
            ADAPTER.normalise(SAFE, verify_push(ADAPTER, SAFE, req))

    def test_acknowledges_with_success(self) -> None:
        answer = ADAPTER.acknowledge(SAFE, push("<xml/>"), [])
        assert (answer.status_code, answer.body, answer.media_type) == (
            200,
            b"success",
            "text/plain",
        )


QUERY_KEYS = st.sampled_from(["signature", "msg_signature", "timestamp", "nonce", "echostr",
                              "encrypt_type", "openid"])  # fmt: skip
QUERIES = st.dictionaries(QUERY_KEYS, st.text(max_size=80) | st.sampled_from(["aes", TS, "1"]))
BODIES = st.binary(max_size=600) | st.builds(
    lambda text: f"<xml><Encrypt>{text}</Encrypt></xml>".encode(), st.text(max_size=200)
)


class TestFuzz:
    @settings(max_examples=300, deadline=None)
    @given(query=QUERIES, body=BODIES, method=st.sampled_from(["GET", "POST"]))
    def test_arbitrary_requests_only_raise_the_protocol_errors(
        self, query: dict[str, str], body: bytes, method: str
    ) -> None:
        only_protocol_errors(ADAPTER, (PLAIN, SAFE, SDK), request(method, query, body))

    @settings(max_examples=300, deadline=None)
    @given(body=st.binary(max_size=600) | st.text(max_size=400).map(str.encode))
    def test_authentic_arbitrary_plaintexts_only_raise_malformed_payload(self, body: bytes) -> None:
        sealed, query = vectors.sealed(body, token=vectors.TOKEN, aes_key=vectors.AES_KEY,
                                       receive_id=vectors.APP_ID, timestamp=TS, nonce="1",
                                       extra_query={"encrypt_type": "aes"})  # fmt: skip
        req = request(query=query, body=sealed)
        with contextlib.suppress(MalformedPayload):
            ADAPTER.normalise(SAFE, verify_push(ADAPTER, SAFE, req))

    @settings(max_examples=200, deadline=None)
    @given(
        fields=st.dictionaries(
            st.sampled_from(["FromUserName", "CreateTime", "MsgType", "MsgId", "Content",
                             "Location_X", "Location_Y", "Event", "EventKey", "Format",
                             "MediaId", "PicUrl", "Title", "Url"]),
            st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
            | st.sampled_from(["event", "text", "subscribe", "CLICK", "1", "-5", "1e300",
                               "99999999999999", "nan", "inf"]),
        )
    )  # fmt: skip
    def test_authentic_arbitrary_fields_only_raise_malformed_payload(
        self, fields: dict[str, str]
    ) -> None:
        inner = "".join(f"<{k}><![CDATA[{v.replace(']]>', '')}]]></{k}>" for k, v in fields.items())
        req = push(f"<xml>{inner}</xml>")
        with contextlib.suppress(MalformedPayload):
            ADAPTER.normalise(SAFE, verify_push(ADAPTER, SAFE, req))
