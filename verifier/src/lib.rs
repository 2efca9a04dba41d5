//! The agentcap verifier: checks a whole delegation chain against trusted root
//! keys and a revocation list, authorizes requests with Datalog policies,
//! explains its decisions and writes an audit trail; also as tower middleware.
