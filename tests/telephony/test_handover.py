"""How Plivo, Vonage and Telnyx are told where a caller goes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from voicebot.config import TransferSettings
from voicebot.telephony.plivo.xml import after_stream_xml, answer_xml
from voicebot.telephony.telnyx.api import client_state
from voicebot.telephony.vonage.api import answer_ncco, transfer_ncco
from voicebot.tools.transfer import TransferTarget

BASE = "https://bot.example.com"


def test_plivo_dials_numbers_and_sip_users_and_queues_into_a_conference():
    settings = TransferSettings()
    dial = ET.fromstring(after_stream_xml(TransferTarget("dial", "+1 (800) 555-0199"), settings, BASE))
    assert dial.find("Dial/Number").text == "18005550199"
    sip = ET.fromstring(after_stream_xml(TransferTarget("dial", "sip:agents@pbx.example.com"), settings, BASE))
    assert sip.find("Dial/User").text == "sip:agents@pbx.example.com"
    queue = ET.fromstring(after_stream_xml(TransferTarget("enqueue", "priority"), settings, BASE))
    assert queue.find("Conference").text == "priority"
    assert queue.find("Conference").get("waitSound") == BASE + "/plivo/hold"
    assert ET.fromstring(after_stream_xml(None, settings, BASE)).find("Hangup") is not None


def test_plivo_answer_is_well_formed_for_odd_numbers():
    root = ET.fromstring(answer_xml(BASE, "wss://bot.example.com", 'a"b&', "<to>"))
    assert root.find("Stream").get("extraHeaders") == 'from=a"b&,to=<to>'


def test_plivo_and_vonage_answers_hand_the_stream_its_call_token():
    root = ET.fromstring(answer_xml(BASE, "wss://bot.example.com", "+14155552671", "+1800", {"token": "abc"}))
    assert root.find("Stream").get("extraHeaders") == "from=+14155552671,to=+1800,token=abc"
    [connect] = answer_ncco(BASE, "wss://bot.example.com", "+14155552671", "+1800", "uuid-1", {"token": "abc"})
    assert connect["endpoint"][0]["headers"]["token"] == "abc"


def test_vonage_transfers_to_a_phone_a_sip_uri_with_the_pop_or_a_queue_conversation():
    settings = TransferSettings()
    [phone] = transfer_ncco(TransferTarget("dial", "+18005550199"), "pop-1", "18005550100", settings, BASE)
    assert phone["endpoint"] == [{"type": "phone", "number": "18005550199"}] and phone["from"] == "18005550100"
    [sip] = transfer_ncco(TransferTarget("dial", "sip:agent@pbx"), "pop-1", "18005550100", settings, BASE)
    assert sip["endpoint"][0]["headers"] == {"X-Voicebot-Screen-Pop": "pop-1"}
    [queue] = transfer_ncco(TransferTarget("enqueue", "support"), "pop-1", "18005550100", settings, BASE)
    assert queue == {"action": "conversation", "name": "support", "musicOnHoldUrl": [BASE + "/media/hold-music.wav"]}


def test_telnyx_client_state_is_base64_json():
    import base64
    import json

    assert json.loads(base64.b64decode(client_state({"screen_pop_id": "p"}))) == {"screen_pop_id": "p"}
