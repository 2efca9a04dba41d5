//! Cross-crate scenarios for agentcap: real keys, real tokens, real files and
//! real HTTP on loopback. The tests live in `tests/tests/`.
