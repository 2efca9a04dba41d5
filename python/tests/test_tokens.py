"""Grant, Hop, Token and Chain: minting, delegation, narrowing, the local check."""

import datetime
import time

import pytest

import agentcap
from agentcap import (
    DelegationRefused,
    Denied,
    Grant,
    Hop,
    InvalidArgument,
    InvalidToken,
    KeyPair,
    Token,
)


def travel_token(root, assistant):
    return (
        Grant("alice", "travel-assistant")
        .agent_key(assistant.public())
        .right("flights/*", "read")
        .right("payments/charge", "write")
        .cap("payments/charge:write", "amount", 500)
        .ttl(3600)
        .max_depth(3)
        .intent("Book me a flight to Lisbon under 500 EUR")
        .mint(root)
    )


def test_three_hops_down_and_the_chain(root, agent):
    search = KeyPair.generate()
    token = travel_token(root, agent)
    for_search = token.delegate(
        Hop.to("flight-search").agent_key(search.public()).right("flights/*", "read").ttl(600),
        signer=agent,
    )
    for_scraper = for_search.delegate(Hop.to("lisbon-scraper").right("flights/lis/*", "read"), signer=search)

    # Through base64 and back, verified against the root key.
    received = Token.from_base64(for_scraper.to_base64(), root=root.public())
    chain = received.chain()
    assert received.is_verified and chain.verified
    assert chain.user == "alice"
    assert chain.intent == "Book me a flight to Lisbon under 500 EUR"
    assert chain.agents == ["travel-assistant", "flight-search", "lisbon-scraper"]
    assert chain.holder == "lisbon-scraper"
    assert chain.depth == 2 and chain.max_depth == 3 and len(chain) == 3
    assert [b.kind for b in chain.blocks] == ["authority", "hop", "hop"]
    assert [b.status for b in chain.blocks] == ["proven", "proven", "proven"]
    assert [b.delegator for b in chain.blocks] == ["alice", "travel-assistant", "flight-search"]
    assert chain.blocks[0].signer == "root"
    assert chain.blocks[1].signer == "key" and chain.blocks[1].signer_key == agent.public()
    assert chain.blocks[1].holder_key == search.public() and chain.blocks[1].holder_key_proven
    assert chain.blocks[2].rights == ["flights/lis/*:read"]
    assert chain.blocks[0].caps and "amount" in chain.blocks[0].caps[0]
    assert len(chain.revocation_ids) == 3
    assert all(isinstance(b.describe(), str) and b.describe() for b in chain.blocks)
    assert chain.expires_at is not None and chain.expires_at > time.time()

    received.check(root.public(), "flights/lis/2026-12-01", "read")
    with pytest.raises(Denied) as caught:
        received.check(root.public(), "flights/ams/2026-12-01", "read")
    assert caught.value.reason == "policy_denied"
    assert "flight-search → lisbon-scraper" in caught.value.explanation
    assert "flights/ams/2026-12-01:read" in str(caught.value)


def test_unverified_reading_is_claimed(root, agent):
    token = travel_token(root, agent)
    unverified = Token.from_base64(token.to_base64())
    chain = unverified.chain()
    assert not unverified.is_verified and not chain.verified
    assert chain.blocks[0].status == "claimed"
    # The check verifies against the root key it is given.
    unverified.check(root.public(), "flights/x", "read")
    with pytest.raises(InvalidToken) as caught:
        unverified.check(KeyPair.generate().public(), "flights/x", "read")
    assert caught.value.reason == "bad_signature"


def test_unsigned_hop_from_a_bound_holder_is_refused(root, agent):
    token = travel_token(root, agent)
    with pytest.raises(DelegationRefused) as caught:
        token.delegate(Hop.to("search").right("flights/*", "read"))
    assert caught.value.reason == "signing_key_required"
    with pytest.raises(DelegationRefused) as caught:
        token.delegate(Hop.to("search").right("flights/*", "read"), signer=KeyPair.generate())
    assert caught.value.reason == "wrong_signing_key"


def test_hops_only_narrow(root, agent):
    token = travel_token(root, agent)
    with pytest.raises(DelegationRefused) as caught:
        token.delegate(Hop.to("x").right("hotels/*", "read"), signer=agent)
    assert caught.value.reason == "right_not_held"
    with pytest.raises(DelegationRefused) as caught:
        token.delegate(
            Hop.to("x").right("payments/charge", "write").cap("payments/charge:write", "amount", 900),
            signer=agent,
        )
    assert caught.value.reason == "cap_exceeds_parent"
    with pytest.raises(DelegationRefused) as caught:
        token.delegate(Hop.to("x").right("flights/*", "read").ttl(7200), signer=agent)
    assert caught.value.reason == "ttl_exceeds_parent"


def test_caps_and_quantities(root, agent):
    token = travel_token(root, agent)
    token.check(root.public(), "payments/charge", "write", amount=500)
    with pytest.raises(Denied) as caught:
        token.check(root.public(), "payments/charge", "write", amount=501)
    assert caught.value.reason == "policy_denied"
    assert "caps amount at 500" in caught.value.explanation
    with pytest.raises(InvalidArgument):
        token.check(root.public(), "payments/charge", "write", amount=True)
    with pytest.raises(InvalidArgument):
        token.check(root.public(), "payments/charge", "write", amount="5")
    with pytest.raises(InvalidArgument):
        token.check(root.public(), "payments/charge", "write", amount=2**70)


def test_narrow_and_seal(root, agent):
    token = travel_token(root, agent)
    narrowed = token.narrow("flights/lis/x", "read", ttl=datetime.timedelta(seconds=20))
    assert narrowed.chain().blocks[-1].kind == "narrowing"
    narrowed.check(root.public(), "flights/lis/x", "read")
    with pytest.raises(Denied):
        narrowed.check(root.public(), "flights/lis/y", "read")
    sealed = token.seal()
    assert sealed.chain().sealed
    with pytest.raises(DelegationRefused) as caught:
        sealed.delegate(Hop.to("x").right("flights/*", "read"), signer=agent)
    assert caught.value.reason == "sealed"


def test_expired_token_is_denied(root):
    token = Grant("alice", "a").right("r/*", "read").ttl(1).mint(root)
    time.sleep(2.1)
    with pytest.raises(Denied) as caught:
        token.check(root.public(), "r/x", "read")
    assert caught.value.reason == "expired"
    assert caught.value.explanation.startswith("denied: the token expired")


def test_audiences(root):
    token = Grant("alice", "a").right("r/*", "read").audience("https://gw.example/mcp").mint(root)
    token.check(root.public(), "r/x", "read", audience="https://gw.example/mcp")
    with pytest.raises(Denied) as caught:
        token.check(root.public(), "r/x", "read", audience="https://other.example/")
    assert caught.value.reason == "audience_mismatch"


@pytest.mark.parametrize(
    "build",
    [
        lambda: Grant("", "agent").right("r", "read"),
        lambda: Grant("alice", "agent"),
        lambda: Grant("alice", "agent").right("", "read"),
        lambda: Grant("alice", "agent").right("r", "read").audience("not a uri"),
    ],
)
def test_bad_grants_raise_invalid_argument(root, build):
    with pytest.raises(InvalidArgument) as caught:
        build().mint(root)
    assert caught.value.reason == "invalid_argument"


@pytest.mark.parametrize("ttl", [0, -5, float("nan"), float("inf"), "1h", None])
def test_bad_lifetimes_raise_invalid_argument(ttl):
    with pytest.raises(InvalidArgument):
        Grant("alice", "agent").ttl(ttl)


@pytest.mark.parametrize(
    "text", ["", "!!!", "A" * 10, "En0BCg", "x" * (2 * 1024 * 1024)]
)
def test_bad_tokens_raise_invalid_token(text):
    with pytest.raises(InvalidToken) as caught:
        Token.from_base64(text)
    assert caught.value.reason == "malformed"


def test_bad_request_raises_invalid_argument(root):
    token = Grant("alice", "a").right("r/*", "read").mint(root)
    with pytest.raises(InvalidArgument) as caught:
        token.check(root.public(), "", "read")
    assert caught.value.reason == "malformed_request"


def test_exceptions_form_one_hierarchy():
    for name in [
        "InvalidKey", "KeyFileExists", "FileError", "InvalidToken", "InvalidArgument",
        "DelegationRefused", "Denied", "InvalidHolderProof", "ConfigError",
    ]:
        cls = getattr(agentcap, name)
        assert issubclass(cls, agentcap.AgentcapError)
        assert cls.__module__ == "agentcap"
    assert issubclass(agentcap.AgentcapError, Exception)


def test_tokens_are_shared_between_threads(root, agent):
    from concurrent.futures import ThreadPoolExecutor

    token = travel_token(root, agent)
    public = root.public()

    def work(i):
        child = token.delegate(Hop.to(f"worker-{i}").right("flights/*", "read"), signer=agent)
        child.check(public, f"flights/{i}", "read")
        try:
            child.check(public, "payments/charge", "write", amount=1)
        except Denied as denied:
            return child.chain().holder, denied.reason
        return child.chain().holder, "allowed"

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, range(16)))
    assert results == [(f"worker-{i}", "policy_denied") for i in range(16)]
