"""A Python client calling a service protected by agentcap over loopback:
`agentcap serve --require-holder-proof` checks every request's proof."""

import httpx
import pytest
import requests

import agentcap
from agentcap import Grant, Hop, HttpxAuth, KeyPair, RequestsAuth


def bound_token(root, agent):
    return (
        Grant("alice", "travel-assistant")
        .agent_key(agent.public())
        .right("flights/*", "read")
        .right("payments/charge", "write")
        .cap("payments/charge:write", "amount", 500)
        .mint(root)
    )


def test_httpx_signs_every_request(serve, root, agent):
    service = serve(root.public(), "--require-holder-proof")
    token = bound_token(root, agent)
    with httpx.Client(base_url=service.url, auth=HttpxAuth(token, holder=agent), timeout=10) as client:
        response = client.get("/flights/lis/2026-12-01")
        assert response.status_code == 200, response.text
        assert "travel-assistant" in response.text
        # Two calls, two nonces: no replay refusal.
        assert client.get("/flights/ams/x").status_code == 200
        charged = client.post("/payments/charge", params={"amount": 120}, json={"to": "airline"})
        assert charged.status_code == 200, charged.text
        over = client.post("/payments/charge", params={"amount": 900}, json={"to": "airline"})
        assert over.status_code == 403
        assert over.json().get("reason") == "policy_denied"


def test_httpx_async_client(serve, root, agent):
    import asyncio

    service = serve(root.public(), "--require-holder-proof")
    token = bound_token(root, agent)

    async def call():
        async with httpx.AsyncClient(auth=HttpxAuth(token, holder=agent), timeout=10) as client:
            return await client.get(f"{service.url}/flights/lis/x")

    assert asyncio.run(call()).status_code == 200


def test_without_a_proof_or_with_another_key_the_service_refuses(serve, root, agent):
    service = serve(root.public(), "--require-holder-proof")
    token = bound_token(root, agent)
    bare = httpx.get(f"{service.url}/flights/lis/x", auth=HttpxAuth(token), timeout=10)
    assert bare.status_code == 401
    assert bare.json().get("reason") == "holder_proof_missing"
    thief = httpx.get(
        f"{service.url}/flights/lis/x", auth=HttpxAuth(token, holder=KeyPair.generate()), timeout=10
    )
    assert thief.status_code == 401
    assert thief.json().get("reason") == "holder_proof_invalid"


def test_an_altered_request_is_refused(serve, root, agent):
    service = serve(root.public(), "--require-holder-proof")
    token = bound_token(root, agent)
    headers = agentcap.sign_request(agent, token, "POST", f"{service.url}/payments/charge?amount=10")
    altered = httpx.post(f"{service.url}/payments/charge?amount=400", headers=headers, timeout=10)
    assert altered.status_code == 401
    assert altered.json().get("reason") == "holder_proof_invalid"
    honest = httpx.post(f"{service.url}/payments/charge?amount=10", headers=headers, timeout=10)
    assert honest.status_code == 200, honest.text
    replayed = httpx.post(f"{service.url}/payments/charge?amount=10", headers=headers, timeout=10)
    assert replayed.status_code == 401


def test_requests_auth_with_a_delegated_token(serve, root, agent):
    service = serve(root.public(), "--require-holder-proof")
    search = KeyPair.generate()
    token = bound_token(root, agent).delegate(
        Hop.to("flight-search").agent_key(search.public()).right("flights/*", "read"), signer=agent
    )
    session = requests.Session()
    session.auth = RequestsAuth(token, holder=search)
    response = session.get(f"{service.url}/flights/lis/x", params={"seats": "2"}, timeout=10)
    assert response.status_code == 200, response.text
    assert "flight-search" in response.text
    refused = session.post(f"{service.url}/payments/charge?amount=5", data=b"{}", timeout=10)
    assert refused.status_code == 403


def test_bearer_tokens_without_proofs(serve, root):
    service = serve(root.public())
    token = Grant("alice", "bot").right("hotels/*", "read").mint(root)
    response = requests.get(f"{service.url}/hotels/lisbon", auth=RequestsAuth(token), timeout=10)
    assert response.status_code == 200, response.text
    assert httpx.get(f"{service.url}/hotels/lisbon", timeout=10).status_code == 401


def test_auth_classes_refuse_bad_tokens():
    with pytest.raises(TypeError):
        HttpxAuth(42)
    with pytest.raises(TypeError):
        RequestsAuth(None)
