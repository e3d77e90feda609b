"""Twilio webhook signatures and the REST call update, against a loopback stand-in."""

import pytest

from tests.standins.twilio import ACCOUNT_SID, AUTH_TOKEN, TwilioREST
from voicebot.config import TransferSettings, TwilioSettings
from voicebot.storage.records import TransferRecord
from voicebot.telephony.twilio.api import TwilioAPIError, TwilioCalls, request_signature, valid_signature
from voicebot.telephony.twilio.twiml import TwilioHandover

URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}


def test_signature_matches_twilios_published_example():
    assert request_signature(URL, PARAMS, "12345") == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_a_changed_parameter_url_or_token_fails_validation():
    good = request_signature(URL, PARAMS, "12345")
    assert valid_signature(URL, PARAMS, "12345", good)
    assert not valid_signature(URL, {**PARAMS, "Digits": "9"}, "12345", good)
    assert not valid_signature(URL + "&x=1", PARAMS, "12345", good)
    assert not valid_signature(URL, PARAMS, "54321", good)
    assert not valid_signature(URL, PARAMS, "12345", None)


@pytest.fixture
def twilio():
    standin = TwilioREST()
    yield standin
    standin.close()


def settings(twilio, token=AUTH_TOKEN) -> TwilioSettings:
    return TwilioSettings(account_sid=ACCOUNT_SID, auth_token=token, api_base_url=twilio.url)


async def test_redirect_posts_the_twiml_with_basic_auth(twilio):
    calls = TwilioCalls(settings(twilio))
    await calls.redirect("CA42", '<?xml version="1.0"?><Response><Enqueue>support</Enqueue></Response>')
    [(sid, form)] = twilio.updates
    assert sid == "CA42" and "<Enqueue>support</Enqueue>" in form["Twiml"]
    await calls.aclose()


async def test_a_rejected_update_is_an_error(twilio):
    calls = TwilioCalls(settings(twilio, token="wrong"))
    with pytest.raises(TwilioAPIError) as failed:
        await calls.redirect("CA42", "<?xml version='1.0'?><Response/>")
    assert failed.value.status == 401
    await calls.aclose()


async def test_handover_uses_rest_when_it_can_and_falls_back_to_the_stream_close(twilio):
    transfer = TransferRecord("enqueue", "billing", "pop-1", "open_case")
    rest = TwilioHandover(TransferSettings(), TwilioCalls(settings(twilio)), "https://bot.example.com")
    assert await rest.transfer("CA1", transfer) == "rest"
    twiml = twilio.updates[0][1]["Twiml"]
    assert 'waitUrl="https://bot.example.com/twilio/hold"' in twiml and ">billing</Enqueue>" in twiml
    broken = TwilioHandover(TransferSettings(), TwilioCalls(settings(twilio, token="wrong")), "https://x")
    assert await broken.transfer("CA2", transfer) == "stream_close"
    assert await TwilioHandover(TransferSettings(), None, "https://x").transfer("CA3", transfer) == "stream_close"


def test_rest_is_used_only_with_credentials_and_not_when_turned_off():
    assert TwilioSettings(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN).rest_enabled
    assert not TwilioSettings(auth_token=AUTH_TOKEN).rest_enabled
    assert not TwilioSettings(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, transfer_via="stream_close").rest_enabled
