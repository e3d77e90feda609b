"""Access to the agent desktop and AudioConnector: a secret when configured, else loopback only."""

from pydantic import SecretStr

from voicebot.routes.access import allowed


def test_a_configured_secret_must_be_presented_from_anywhere():
    secret = SecretStr("s3cret")
    assert allowed(secret, "s3cret", "203.0.113.9")
    assert not allowed(secret, "wrong", "127.0.0.1")
    assert not allowed(secret, "", "127.0.0.1")


def test_without_a_secret_only_loopback_clients_are_let_in():
    assert allowed(None, "", "127.0.0.1") and allowed(None, "", "::1")
    assert not allowed(None, "", "192.0.2.10")
    assert not allowed(None, "", None) and not allowed(None, "", "testclient")
