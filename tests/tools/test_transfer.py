"""TwiML for the Twilio hand-off: stream to the bot, then dial, enqueue or hang up."""

from voicebot.config import TransferSettings
from voicebot.tools.transfer import (
    after_stream_twiml,
    connect_twiml,
    hold_twiml,
    transfer_target,
)

BASE = "https://bot.example.com"


def test_connect_passes_the_caller_number_as_a_stream_parameter():
    xml = connect_twiml(BASE, "wss://bot.example.com", "+14155552671", "+18005550100")
    assert '<Connect action="https://bot.example.com/twilio/after-stream">' in xml
    assert '<Stream url="wss://bot.example.com/twilio/media">' in xml
    assert '<Parameter name="from" value="+14155552671"/>' in xml
    assert "<Pause" not in xml


def test_odd_caller_values_still_give_well_formed_twiml():
    import xml.etree.ElementTree as ET

    xml = connect_twiml(BASE, "wss://x", "a\"b'&", "<to>")
    params = {p.get("name"): p.get("value") for p in ET.fromstring(xml).iter("Parameter")}
    assert params == {"from": "a\"b'&", "to": "<to>"}


def test_transferred_calls_are_enqueued_with_hold_music_or_dialled():
    transfer = {"mode": "enqueue", "target": "support"}
    xml = after_stream_twiml("transferred", transfer, TransferSettings(), BASE)
    assert '<Enqueue waitUrl="https://bot.example.com/twilio/hold" waitUrlMethod="GET">support</Enqueue>' in xml
    dial = after_stream_twiml("transferred", {"mode": "dial", "target": "+18005550199"}, TransferSettings(), BASE)
    assert '<Dial timeout="30"><Number>+18005550199</Number></Dial>' in dial


def test_finished_calls_hang_up():
    assert "<Hangup/>" in after_stream_twiml("completed", None, TransferSettings(), BASE)
    assert "<Hangup/>" in after_stream_twiml("abandoned", None, TransferSettings(), BASE)


def test_calls_the_bot_did_not_finish_go_to_an_agent_rather_than_silence():
    for outcome in (None, "error"):
        assert "<Enqueue" in after_stream_twiml(outcome, None, TransferSettings(), BASE)
    assert "<Dial" in after_stream_twiml(None, None, TransferSettings(mode="dial"), BASE)


def test_transfer_target_follows_config():
    assert transfer_target(TransferSettings(mode="dial", agent_number="+1555")).target == "+1555"
    assert transfer_target(TransferSettings(queue="vip")).target == "vip"


def test_hold_plays_the_bundled_music_in_a_loop():
    assert '<Play loop="0">https://bot.example.com/media/hold-music.wav</Play>' in hold_twiml(BASE)
