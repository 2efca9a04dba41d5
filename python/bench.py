"""Python-side cost of the main operations (timeit), to compare with the Rust
figures of docs/performance.md: `python python/bench.py` with the package
installed (a release build: `pip install ./python`)."""

import os
import sys
import timeit

# This file sits next to the package's sources: import the installed package.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

from agentcap import Grant, HolderProof, Hop, KeyPair, ProofRequest, Token
from agentcap._agentcap import _native_timings


def main() -> None:
    root, agent, search = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()
    grant = (
        Grant("alice", "travel-assistant")
        .agent_key(agent.public())
        .right("flights/*", "read")
        .right("payments/charge", "write")
        .cap("payments/charge:write", "amount", 500)
        .intent("Book me a flight to Lisbon under 500 EUR")
    )
    token = grant.mint(root)
    signed_hop = Hop.to("flight-search").agent_key(search.public()).right("flights/*", "read")
    plain_hop = Hop.to("flight-search").right("flights/*", "read")
    unbound = Grant("alice", "assistant").right("flights/*", "read").mint(root)
    child = token.delegate(signed_hop, signer=agent)
    root_public = root.public()
    text = token.to_base64()
    request = ProofRequest("POST", "pay.example:8443", "/payments/charge", text,
                           query="amount=10", body=b'{"to":"bob"}')
    cases = {
        "mint (2 rights, 1 cap, intent)": lambda: grant.mint(root),
        "one signed hop": lambda: token.delegate(signed_hop, signer=agent),
        "one plain hop (unbound holder)": lambda: unbound.delegate(plain_hop),
        "narrow": lambda: unbound.narrow("flights/lis/x", "read", ttl=30),
        "check (verified token, allowed)": lambda: token.check(root_public, "flights/lis/x", "read"),
        "check, 2-block token": lambda: child.check(root_public, "flights/lis/x", "read"),
        "from_base64 + verify": lambda: Token.from_base64(text, root=root_public),
        "sign a request (holder proof)": lambda: HolderProof.sign(agent, request),
        "a trivial call (Token.is_verified)": lambda: token.is_verified,
    }
    runs = 200
    for name, call in cases.items():
        best = min(timeit.repeat(call, number=runs, repeat=5)) / runs
        print(f"{name:40s} {best * 1e6:9.1f} µs")

    # The same four operations from Python and inside Rust, interleaved, on
    # the same objects: the difference is the binding's cost.
    pairs = {
        "mint": cases["mint (2 rights, 1 cap, intent)"],
        "signed hop": cases["one signed hop"],
        "check": cases["check (verified token, allowed)"],
        "sign": cases["sign a request (holder proof)"],
    }
    print(f"\n{'operation':12s} {'Python':>10s} {'Rust':>10s} {'overhead':>10s}")
    for name, call in pairs.items():
        python = min(timeit.repeat(call, number=runs, repeat=5)) / runs
        native = _native_timings(grant, root, token, signed_hop, agent, root_public, request, runs)[name]
        print(f"{name:12s} {python * 1e6:8.1f}µs {native * 1e6:8.1f}µs {(python - native) * 1e6:8.1f}µs")


if __name__ == "__main__":
    main()
