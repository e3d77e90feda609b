"""TwiML for the Twilio hand-off: stream to the bot, then dial, enqueue or hang up."""

from datetime import UTC, datetime

from voicebot.config import TransferSettings
from voicebot.storage.records import TransferRecord
from voicebot.telephony.twilio.twiml import after_stream_twiml, connect_twiml, hold_twiml
from voicebot.tools.crm.base import Case
from voicebot.tools.transfer import after_stream_target, transfer_target

BASE = "https://bot.example.com"
NOW = datetime(2026, 11, 20, tzinfo=UTC)


def test_connect_passes_the_caller_number_as_a_stream_parameter():
    xml = connect_twiml(BASE, "wss://bot.example.com", "+14155552671", "+18005550100")
    assert '<Connect action="https://bot.example.com/twilio/after-stream">' in xml
    assert '<Stream url="wss://bot.example.com/twilio/media">' in xml
    assert '<Parameter name="from" value="+14155552671"/>' in xml
    assert "<Pause" not in xml


def test_connect_hands_the_stream_its_call_token():
    import xml.etree.ElementTree as ET

    xml = connect_twiml(BASE, "wss://x", "+14155552671", "+18005550100", {"token": "abc123"})
    params = {p.get("name"): p.get("value") for p in ET.fromstring(xml).iter("Parameter")}
    assert params == {"from": "+14155552671", "to": "+18005550100", "token": "abc123"}


def twiml(outcome, transfer, settings):
    return after_stream_twiml(after_stream_target(outcome, transfer, settings), settings, BASE)


def test_odd_caller_values_still_give_well_formed_twiml():
    import xml.etree.ElementTree as ET

    xml = connect_twiml(BASE, "wss://x", "a\"b'&", "<to>")
    params = {p.get("name"): p.get("value") for p in ET.fromstring(xml).iter("Parameter")}
    assert params == {"from": "a\"b'&", "to": "<to>"}


def test_transferred_calls_are_enqueued_with_hold_music_or_dialled():
    transfer = TransferRecord("enqueue", "support", "pop-1", "open_case")
    xml = twiml("transferred", transfer, TransferSettings())
    assert '<Enqueue waitUrl="https://bot.example.com/twilio/hold" waitUrlMethod="GET">support</Enqueue>' in xml
    dial = twiml("transferred", TransferRecord("dial", "+18005550199", "pop-2", "open_case"), TransferSettings())
    assert '<Dial timeout="30"><Number>+18005550199</Number></Dial>' in dial


def test_finished_calls_hang_up():
    assert "<Hangup/>" in twiml("completed", None, TransferSettings())
    assert "<Hangup/>" in twiml("abandoned", None, TransferSettings())


def test_calls_the_bot_did_not_finish_go_to_an_agent_rather_than_silence():
    for outcome in (None, "error"):
        assert "<Enqueue" in twiml(outcome, None, TransferSettings())
    assert "<Dial" in twiml(None, None, TransferSettings(mode="dial"))


def test_transfer_target_follows_config():
    assert (
        transfer_target(TransferSettings(mode="dial", agent_number="+1555"), "caller_requested_agent").target == "+1555"
    )
    assert transfer_target(TransferSettings(queue="vip"), "caller_requested_agent").target == "vip"


def test_reasons_route_to_their_own_queue_and_high_priority_cases_to_the_priority_queue():
    settings = TransferSettings(routes={"no_open_case": "new-cases"}, priority_target="priority")
    assert transfer_target(settings, "no_open_case").target == "new-cases"
    assert transfer_target(settings, "caller_requested_agent").target == "support"
    urgent = Case("c", "CAS-1", "t", "open", "cust", NOW, NOW, priority="High")
    normal = Case("c", "CAS-1", "t", "open", "cust", NOW, NOW, priority="normal")
    assert transfer_target(settings, "caller_requested_agent", urgent).target == "priority"
    assert transfer_target(settings, "caller_requested_agent", normal).target == "support"


def test_hold_alternates_music_and_the_hold_prompt():
    xml = hold_twiml(BASE)
    assert "<Play>https://bot.example.com/media/hold-music.wav</Play>" in xml
    assert "<Play>https://bot.example.com/prompts/hold.wav</Play>" in xml
