"""Interoperability with the Rust CLI, both ways: tokens and holder proofs."""

import json

import pytest

import agentcap
from agentcap import Denied, Hop, KeyPair, Token

from conftest import run_cli


def test_token_minted_in_python_verifies_with_the_cli(cli, root, agent):
    token = (
        agentcap.Grant("alice", "travel-assistant")
        .agent_key(agent.public())
        .right("flights/*", "read")
        .right("payments/charge", "write")
        .cap("payments/charge:write", "amount", 500)
        .mint(root)
    )
    child = token.delegate(Hop.to("flight-search").right("flights/*", "read"), signer=agent)
    text = child.to_base64()
    allowed = run_cli(
        cli, "--format", "json", "verify", text,
        "--root-public-key", str(root.public()), "--request", "flights/lis/x:read",
    )
    decision = json.loads(allowed.stdout)
    assert decision["reason"] == "allowed"

    denied = run_cli(
        cli, "--format", "json", "verify", text,
        "--root-public-key", str(root.public()), "--request", "payments/charge:write",
        "--fact", "amount=10", check=False,
    )
    assert denied.returncode == 1
    assert json.loads(denied.stdout)["reason"] == "policy_denied"

    forged = run_cli(
        cli, "--format", "json", "verify", text,
        "--root-public-key", str(KeyPair.generate().public()), "--request", "flights/x:read",
        check=False,
    )
    assert forged.returncode == 1
    assert json.loads(forged.stdout)["reason"] == "bad_signature"


def test_token_minted_by_the_cli_delegates_and_checks_in_python(cli, tmp_path):
    root_file, agent_file = tmp_path / "root.key", tmp_path / "agent.key"
    root_public = run_cli(cli, "keys", "generate", "--out", str(root_file)).stdout.strip()
    agent_public = run_cli(cli, "keys", "generate", "--out", str(agent_file)).stdout.strip()
    minted = run_cli(
        cli, "mint", "--root-key-file", str(root_file),
        "--user", "alice", "--agent", "assistant", "--agent-public-key", agent_public,
        "--right", "flights/*:read", "--right", "payments/charge:write",
        "--cap", "payments/charge:write:amount<=300", "--ttl", "10m",
    ).stdout.strip()

    root_key = agentcap.PublicKey.parse(root_public)
    token = Token.from_base64(minted, root=root_key)
    assert token.chain().agents == ["assistant"]
    assert token.chain().holder_key == agentcap.PublicKey.parse(agent_public)

    token.check(root_key, "payments/charge", "write", amount=300)
    with pytest.raises(Denied):
        token.check(root_key, "payments/charge", "write", amount=301)

    agent = KeyPair.load(agent_file)
    child = token.delegate(Hop.to("search").right("flights/lis/*", "read").ttl(60), signer=agent)
    child.check(root_key, "flights/lis/1", "read")
    with pytest.raises(Denied) as caught:
        child.check(root_key, "payments/charge", "write", amount=1)
    assert caught.value.reason == "policy_denied"

    # ... and the CLI reads the Python hop back, proven.
    inspected = run_cli(
        cli, "--format", "json", "inspect", child.to_base64(), "--root-public-key", root_public
    )
    assert "search" in inspected.stdout


def test_proof_signed_in_python_matches_the_cli_wire_form(cli, tmp_path, root, agent):
    """The CLI's `prove` and Python's signer produce the same header shapes,
    and each proof verifies with the Rust verifier reached from Python."""
    token = agentcap.Grant("alice", "a").agent_key(agent.public()).right("r/*", "read").mint(root)
    text = token.to_base64()
    key_file = tmp_path / "agent.key"
    agent.save(key_file)
    url = "http://Svc.Example:8443/r/x?amount=5"
    printed = run_cli(
        cli, "--format", "json", "prove", text, "--signing-key-file", str(key_file),
        "--method", "GET", "--url", url,
    )
    from_cli = json.loads(printed.stdout)
    from_python = agentcap.sign_request(agent, token, "GET", url)
    assert set(from_cli) == set(from_python)
    assert from_cli["Authorization"] == from_python["Authorization"] == f"Bearer {text}"
    assert from_cli["Content-Digest"] == from_python["Content-Digest"]
    strip_params = lambda v: v.split(";created=")[0]
    assert strip_params(from_cli["Signature-Input"]) == strip_params(from_python["Signature-Input"])

    request = agentcap.ProofRequest.from_url("GET", url, text)
    assert request.authority == "svc.example:8443" and request.query == "amount=5"
    for headers in (from_cli, from_python):
        verified = agentcap.HolderProof.verify(
            headers["Signature-Input"], headers["Signature"], headers["Content-Digest"],
            agent.public(), request,
        )
        assert len(verified["nonce"]) >= 16
