"""Every BYOVA RPC's token: signed by the broker's published key, issued by the broker, for this data source."""

from __future__ import annotations

import time

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.standins.idbroker import DATASOURCE_URL, IdBroker
from voicebot.telephony.webex.jws import InvalidToken, TokenVerifier


@pytest.fixture
def broker():
    standin = IdBroker()
    yield standin
    standin.close()


@pytest.fixture
async def verifier(broker):
    checker = TokenVerifier(DATASOURCE_URL, audience="voicebot-audience", issuers=frozenset({broker.issuer}))
    yield checker
    await checker.aclose()


def key_fetches(broker) -> int:
    return sum(r.path.endswith("/verificationjwk") for r in broker.requests)


async def test_a_broker_signed_token_for_this_data_source_is_accepted_raw_or_as_bearer(broker, verifier):
    caller = await verifier.verify(broker.mint())
    assert caller.org_id == "org-1234" and caller.subject == "voicebot-subject"
    await verifier.verify("Bearer " + broker.mint())
    assert key_fetches(broker) == 1  # one fetch for many RPCs


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"exp": int(time.time()) - 120}, "expired"),
        ({"com.cisco.datasource.url": DATASOURCE_URL.replace(":50061", "")}, "data source URL"),
        ({"com.cisco.datasource.schema.uuid": "another-schema"}, "schema"),
        ({"aud": "someone-else"}, "audience"),
        ({"jti": None}, "jti"),
        ({"sub": None}, "sub"),
    ],
)
async def test_a_token_for_another_data_source_or_out_of_date_is_refused(broker, verifier, claims, why):
    with pytest.raises(InvalidToken, match=why):
        await verifier.verify(broker.mint(**claims))


async def test_a_token_signed_by_any_other_key_is_refused(broker, verifier):
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InvalidToken, match="signature"):
        await verifier.verify(broker.mint(key=forger))


async def test_an_issuer_off_the_broker_list_is_refused_before_anything_is_fetched(broker, verifier):
    with pytest.raises(InvalidToken, match="issuer"):
        await verifier.verify(broker.mint(iss="https://evil.example.com/idb"))
    assert key_fetches(broker) == 0


async def test_only_rs256_is_accepted(broker, verifier):
    with pytest.raises(InvalidToken, match="RS256"):
        await verifier.verify(broker.mint(key="a-shared-secret-long-enough-for-hs256!", alg="HS256"))
    with pytest.raises(InvalidToken):
        await verifier.verify(None)
    with pytest.raises(InvalidToken, match="JWS"):
        await verifier.verify("not.a.token")


async def test_a_rolled_key_is_fetched_again_and_a_throttled_refresh_keeps_the_known_keys(broker, verifier):
    await verifier.verify(broker.mint())
    broker.rotate()
    await verifier.verify(broker.mint())  # an unknown kid: the keys are fetched once more
    assert key_fetches(broker) == 2
    verifier.clock = lambda: time.time() + 7200  # the cache is stale...
    broker.fail_next(429)  # ...and the broker throttles the refresh
    await verifier.verify(broker.mint())


async def test_the_broker_unreachable_at_first_refuses_rather_than_trusts(broker):
    checker = TokenVerifier(DATASOURCE_URL, issuers=frozenset({broker.issuer}), client=httpx.AsyncClient(timeout=1))
    broker.fail_next(503)
    with pytest.raises(InvalidToken, match="signing keys"):
        await checker.verify(broker.mint())
    await checker.aclose()
