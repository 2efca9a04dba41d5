"""Verifier and Decision: root keys, policies, revocation from a folder."""

import pytest

import agentcap
from agentcap import ConfigError, Denied, Grant, Hop, KeyPair, Verifier

from conftest import run_cli


def delegated(root):
    token = Grant("alice", "travel-assistant").right("flights/*", "read").right(
        "payments/charge", "write"
    ).cap("payments/charge:write", "amount", 500).mint(root)
    return token.delegate(Hop.to("flight-search").right("flights/*", "read")).to_base64()


def test_decisions_with_reason_chain_and_explanation(root):
    verifier = Verifier(root.public(), without_revocation=True,
                        policies='allow if user($u), $u != "mallory";')
    token = delegated(root)
    allowed = verifier.verify(token, "flights/lis/x", "read")
    assert allowed.allowed and allowed.reason == "allowed"
    assert allowed.chain.agents == ["travel-assistant", "flight-search"]
    assert allowed.explain().startswith("allowed: flights/lis/x:read for alice")
    assert allowed.matched_policy == (0, 'allow if user($u), $u != "mallory"')
    allowed.raise_for_denial()

    denied = verifier.verify(token, "payments/charge", "write", amount=10)
    assert not denied.allowed and denied.reason == "policy_denied"
    assert denied.explain() == (
        "denied: hop 1 (travel-assistant → flight-search) allows only flights/*:read; "
        "the request was payments/charge:write"
    )
    assert denied.failing_block == 1
    with pytest.raises(Denied) as caught:
        denied.raise_for_denial()
    assert caught.value.reason == "policy_denied"
    assert caught.value.explanation == denied.explain()


def test_policy_refusal_and_arguments(root):
    verifier = Verifier(
        {None: root.public()},
        without_revocation=True,
        policies=['deny if user("mallory");', "allow if argument(\"dest\", \"LIS\");"],
    )
    mallory = Grant("mallory", "bot").right("flights/*", "read").mint(root).to_base64()
    assert verifier.verify(mallory, "flights/x", "read", arguments={"dest": "LIS"}).reason == "policy_denied"
    alice = Grant("alice", "bot").right("flights/*", "read").mint(root).to_base64()
    assert verifier.verify(alice, "flights/x", "read", arguments={"dest": "LIS"}).allowed
    assert not verifier.verify(alice, "flights/x", "read", arguments={"dest": "AMS"}).allowed
    with pytest.raises(agentcap.InvalidArgument):
        verifier.verify(alice, "flights/x", "read", arguments={"dest": 1.5})


def test_bad_tokens_are_decisions_not_exceptions(root):
    verifier = Verifier(str(root.public()), without_revocation=True)
    assert verifier.verify("garbage", "r", "read").reason == "malformed"
    other = Grant("alice", "a").right("r", "read").mint(KeyPair.generate()).to_base64()
    assert verifier.verify(other, "r", "read").reason == "bad_signature"
    assert verifier.verify_token_only(delegated(root)).allowed
    assert verifier.verify("", "r", "read").reason in ("malformed", "missing_token")


def test_configurations_that_cannot_work_are_refused(root):
    with pytest.raises(ConfigError) as caught:
        Verifier(root.public())
    assert "revocation" in str(caught.value)
    with pytest.raises(ConfigError):
        Verifier(root.public(), without_revocation=True, policies="this is not datalog")
    with pytest.raises(agentcap.InvalidKey):
        Verifier("ed25519/nothex", without_revocation=True)
    with pytest.raises(agentcap.InvalidArgument):
        Verifier(root.public(), revocation_list="/nonexistent", without_revocation=True)
    with pytest.raises(agentcap.InvalidArgument):
        Verifier(root.public(), revocation_list="/nonexistent")
    with pytest.raises(agentcap.InvalidArgument):
        Verifier(root.public(), revocation_list="http://127.0.0.1:9/", revocation_public_key="x")


def test_revocation_list_from_a_published_folder(cli, tmp_path, root):
    store, published = tmp_path / "store", tmp_path / "published"
    list_key = tmp_path / "list.key"
    list_public = run_cli(
        cli, "revocation", "init", "--store", str(store), "--signing-key-file", str(list_key)
    ).stdout.strip().splitlines()[-1]
    token = Grant("alice", "a").right("r/*", "read").mint(root)
    child = token.delegate(Hop.to("b").right("r/*", "read"))
    run_cli(
        cli, "revoke", child.to_base64(), "--store", str(store),
        "--signing-key-file", str(list_key), "--out", str(published),
    )
    verifier = Verifier(
        root.public(), revocation_list=published, revocation_public_key=list_public,
        revocation_state=tmp_path / "state" / "revocation.state",
    )
    revoked = verifier.verify(child.to_base64(), "r/x", "read")
    assert revoked.reason == "revoked"
    assert "revoked" in revoked.explain()
    # The parent was not revoked: only the hop and what derives from it.
    assert verifier.verify(token.to_base64(), "r/x", "read").allowed
    # A list signed by another key is refused.
    with pytest.raises(agentcap.InvalidArgument):
        Verifier(root.public(), revocation_list=published,
                 revocation_public_key=KeyPair.generate().public())


def test_holder_proofs_checked_by_a_python_service(root, agent):
    verifier = Verifier(root.public(), without_revocation=True, require_holder_proof=60,
                        policies=("allow if true;",))
    token = Grant("alice", "a").agent_key(agent.public()).right("payments/charge", "write").mint(root)
    text = token.to_base64()
    url = "http://pay.example:8443/payments/charge?amount=10"
    body = b'{"to": "bob"}'
    headers = agentcap.sign_request(agent, token, "POST", url, body)
    received = agentcap.ProofRequest.from_url("POST", url, text, body)

    ok = verifier.verify(text, "payments/charge", "write", amount=10,
                         http_request=received, http_headers=headers)
    assert ok.allowed, ok.explain()
    # The verifier's replay cache refuses the same proof twice.
    again = verifier.verify(text, "payments/charge", "write", amount=10,
                            http_request=received, http_headers=headers)
    assert again.reason == "holder_proof_invalid"

    fresh = agentcap.sign_request(agent, token, "POST", url, body)
    other_body = agentcap.ProofRequest.from_url("POST", url, text, b'{"to": "mallory"}')
    altered = verifier.verify(text, "payments/charge", "write", amount=10,
                              http_request=other_body, http_headers=fresh)
    assert altered.reason == "holder_proof_invalid"
    missing = verifier.verify(text, "payments/charge", "write", amount=10)
    assert missing.reason == "holder_proof_missing"
    with pytest.raises(agentcap.InvalidArgument):
        verifier.verify(text, "payments/charge", "write", http_request=received)


def test_a_joint_request_is_allowed_only_if_every_principal_allows_it(root):
    verifier = Verifier(root.public(), without_revocation=True)

    def member(user, *rights):
        grant = Grant(user, "channel-assistant")
        for right in rights:
            grant = grant.right(right, "read")
        return grant.mint(root).to_base64()

    cfo = member("cfo", "finance/budget/*", "finance/salaries/*")
    ana = member("ana", "finance/budget/*", "finance/salaries/*")
    bo = member("bo", "finance/budget/*")

    budget = verifier.verify(cfo, "finance/budget/q3", "read", joint=[ana, bo])
    assert budget.allowed
    assert budget.joint_users == ["cfo", "ana", "bo"]
    assert budget.refused_by is None

    salaries = verifier.verify(cfo, "finance/salaries/q3", "read", joint=[ana, bo])
    assert salaries.reason == "joint_denied"
    assert salaries.refused_by == 2
    assert "principal 2 (bo) refused" in salaries.explain()
    assert verifier.verify(cfo, "finance/salaries/q3", "read", joint=[ana]).allowed

    # Not a joint request: no principals listed.
    alone = verifier.verify(cfo, "finance/salaries/q3", "read")
    assert alone.allowed and alone.joint_users is None

    # Another agent's token cannot be presented as a principal's.
    elsewhere = Grant("eve", "other-agent").right("finance/budget/*", "read").mint(root)
    mismatch = verifier.verify(cfo, "finance/budget/q3", "read", joint=[elsewhere.to_base64()])
    assert mismatch.reason == "joint_denied" and mismatch.refused_by == 1
