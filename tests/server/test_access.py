"""Who may come in: a secret when configured, else clients on this machine that came directly."""

from pydantic import SecretStr

from voicebot.server.access import allowed, call_token, is_local, media_allowed, stream_parameters

SECRET = SecretStr("s3cret")
DIRECT: dict[str, str] = {}


def test_a_configured_secret_must_be_presented_from_anywhere():
    assert allowed(SECRET, "s3cret", "203.0.113.9", DIRECT)
    assert not allowed(SECRET, "wrong", "127.0.0.1", DIRECT)
    assert not allowed(SECRET, "", "127.0.0.1", DIRECT)


def test_without_a_secret_only_local_clients_are_let_in():
    assert allowed(None, "", "127.0.0.1", DIRECT) and allowed(None, "", "::1", DIRECT)
    assert not allowed(None, "", "192.0.2.10", DIRECT)
    assert not allowed(None, "", None, DIRECT) and not allowed(None, "", "testclient", DIRECT)


def test_a_proxy_on_this_machine_does_not_make_its_clients_local():
    for header in ("x-forwarded-for", "forwarded", "x-real-ip"):
        assert not is_local("127.0.0.1", {header: "203.0.113.7"})


def test_a_call_token_opens_that_call_only():
    token = call_token(SECRET, "CA1")
    assert media_allowed(SECRET, "CA1", token, "203.0.113.9", DIRECT)
    assert not media_allowed(SECRET, "CA2", token, "203.0.113.9", DIRECT)
    assert not media_allowed(SECRET, "CA1", call_token(SecretStr("other"), "CA1"), "127.0.0.1", DIRECT)
    assert not media_allowed(SECRET, "CA1", "", "127.0.0.1", DIRECT)  # with a secret, local is not enough


def test_the_secret_itself_opens_any_call_for_platforms_configured_by_hand():
    assert media_allowed(SECRET, "any-call", "s3cret", "203.0.113.9", DIRECT)


def test_without_a_media_secret_streams_are_taken_from_this_machine_only():
    assert media_allowed(None, "CA1", "", "127.0.0.1", DIRECT)
    assert not media_allowed(None, "CA1", "", "198.51.100.4", DIRECT)
    assert not media_allowed(None, "CA1", "", "127.0.0.1", {"x-forwarded-for": "198.51.100.4"})


def test_webhook_answers_carry_a_token_only_when_there_is_a_secret():
    assert stream_parameters(None, "CA1") == {}
    assert stream_parameters(SECRET, "CA1") == {"token": call_token(SECRET, "CA1")}
    assert stream_parameters(SECRET, "") == {}  # no call id, nothing to bind a token to
