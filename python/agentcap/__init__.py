"""agentcap: delegated, attenuable capability tokens for AI agents.

A user delegates rights to an agent through an issuer; the agent delegates
narrower slices of them to sub-agents, hop after hop, offline; a service
verifies the whole chain against the issuer's root key. Tokens are standard
Biscuit v3 tokens.

This package wraps the Rust crates (``agentcap`` and ``agentcap-verifier``)
through a compiled extension module; the names mirror the Rust ones, so one
set of docs explains both::

    from agentcap import Grant, Hop, KeyPair

    root, assistant = KeyPair.generate(), KeyPair.generate()
    token = (
        Grant("alice", "travel-assistant")
        .agent_key(assistant.public())
        .right("flights/*", "read")
        .ttl(3600)
        .mint(root)
    )
    child = token.delegate(Hop.to("flight-search").right("flights/*", "read"), signer=assistant)
    child.check(root.public(), "flights/lis/x", "read")   # None, or raises Denied

HTTP clients: :class:`agentcap.http.HttpxAuth` and
:class:`agentcap.http.RequestsAuth` attach the token and sign each request
with the holder's key (holder proofs). :class:`agentcap.ToolGuard` checks
the token locally before each tool call, from any framework.
"""

from ._agentcap import (
    PROOF_LIFETIME_SECONDS,
    AgentcapError,
    Chain,
    ChainBlock,
    ConfigError,
    Decision,
    DelegationRefused,
    Denied,
    FileError,
    Grant,
    HolderProof,
    Hop,
    InvalidArgument,
    InvalidHolderProof,
    InvalidKey,
    InvalidToken,
    KeyFileExists,
    KeyPair,
    ProofHeaders,
    ProofRequest,
    PublicKey,
    Token,
    Verifier,
)
from .guard import ToolDenied, ToolGuard, tool_quantities
from .http import HttpxAuth, RequestsAuth, sign_request

__all__ = [
    "PROOF_LIFETIME_SECONDS",
    "AgentcapError",
    "Chain",
    "ChainBlock",
    "ConfigError",
    "Decision",
    "DelegationRefused",
    "Denied",
    "FileError",
    "Grant",
    "HolderProof",
    "Hop",
    "HttpxAuth",
    "InvalidArgument",
    "InvalidHolderProof",
    "InvalidKey",
    "InvalidToken",
    "KeyFileExists",
    "KeyPair",
    "ProofHeaders",
    "ProofRequest",
    "PublicKey",
    "RequestsAuth",
    "Token",
    "ToolDenied",
    "ToolGuard",
    "Verifier",
    "sign_request",
    "tool_quantities",
]
