//! The delegation story in one run: an issuer mints alice's grant to her
//! travel assistant; the assistant delegates to flight search, which
//! delegates to a scraper, each hop narrower and signed by the delegating
//! agent; the scraper narrows its token for one tool call; the chain is
//! inspected and requests are checked against it.
//!
//! Run with `cargo run --release --example delegation -p agentcap`.

use std::process::ExitCode;
use std::time::Duration;

use agentcap::{Chain, Error, Grant, Hop, KeyPair, Request, Signer, Token, inspect};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Error> {
    let issuer = KeyPair::generate();
    let assistant = KeyPair::generate();
    let search = KeyPair::generate();
    let scraper = KeyPair::generate();
    println!("issuer root key      {}", issuer.public());

    println!("\n1. alice grants travel-assistant flights, hotels and payments up to 500, for 1 h");
    let token = Grant::new("alice", "travel-assistant")
        .agent_key(assistant.public())
        .right("flights/*", "read")
        .right("hotels/*", "read")
        .right("payments/charge", "write")
        .cap("payments/charge:write", "amount", 500)
        .ttl(Duration::from_secs(3600))
        .max_depth(3)
        .intent("Book me a flight to Lisbon in December under 500 EUR")
        .mint(&issuer)?;
    report(&token);

    println!("\n2. travel-assistant delegates flight search, read-only, 10 min (signed hop)");
    let for_search = token.delegate(
        &Hop::to("flight-search")
            .agent_key(search.public())
            .right("flights/*", "read")
            .ttl(Duration::from_secs(600)),
        Some(&assistant),
    )?;
    report(&for_search);

    println!("\n3. flight-search delegates Lisbon routes only to a scraper, 5 min (signed hop)");
    let for_scraper = for_search.delegate(
        &Hop::to("lisbon-scraper")
            .agent_key(scraper.public())
            .right("flights/lis/*", "read")
            .ttl(Duration::from_secs(300)),
        Some(&search),
    )?;
    report(&for_scraper);

    println!("\n4. the scraper narrows its token to one tool call, 30 s");
    let call = for_scraper.narrow("flights/lis/2026-12-01", "read", Duration::from_secs(30))?;
    report(&call);

    println!("\n5. a greedy hop is refused when it is built");
    let greedy = for_scraper.delegate(
        &Hop::to("helper").right("payments/charge", "write"),
        Some(&scraper),
    );
    match greedy {
        Err(error) => println!("   refused: {error}"),
        Ok(_) => return Err(Error::Biscuit("a greedy hop was accepted".into())),
    }

    println!("\n6. the chain, as a service would see it (verified against the root key)");
    let chain = inspect(&call.to_base64()?, Some(&issuer.public()))?;
    print_chain(&chain);

    println!("\n7. requests checked against the last token");
    let root = issuer.public();
    for (resource, operation) in [
        ("flights/lis/2026-12-01", "read"),
        ("flights/lis/2026-12-02", "read"),
        ("hotels/lis/ritz", "read"),
        ("payments/charge", "write"),
    ] {
        let verdict = match call.check(&root, &Request::new(resource, operation)) {
            Ok(()) => "allowed".to_owned(),
            Err(error) => format!("denied ({error})"),
        };
        println!("   {resource}:{operation:<6} {verdict}");
    }
    Ok(())
}

fn report(token: &Token) {
    match token.to_bytes() {
        Ok(bytes) => println!(
            "   holder {}, {} block(s), {} bytes",
            token.chain().holder(),
            token.chain().blocks.len(),
            bytes.len()
        ),
        Err(error) => println!("   cannot serialize: {error}"),
    }
}

fn print_chain(chain: &Chain) {
    println!(
        "   user {} (intent: {:?})",
        chain.user,
        chain.intent.as_deref().unwrap_or("")
    );
    for block in &chain.blocks {
        let who = match &block.delegation {
            Some(d) => format!("{} -> {}", d.from, d.to),
            None => format!("{} restricts itself", block.holder),
        };
        let signer = match &block.signer {
            Signer::Root { .. } => "root key".to_owned(),
            Signer::Holder => "holder (unsigned)".to_owned(),
            Signer::Key { key, is_delegator } => {
                format!(
                    "{key}{}",
                    if *is_delegator {
                        " (the delegator)"
                    } else {
                        ""
                    }
                )
            }
            _ => "another signer".to_owned(),
        };
        let rights: Vec<String> = block.rights.iter().map(ToString::to_string).collect();
        println!(
            "   [{}] {:<10} {:<36} rights {:<40} signed by {} {}",
            block.index,
            block.kind.as_str(),
            who,
            rights.join(", "),
            signer,
            if block.verified {
                "(verified)"
            } else {
                "(unverified)"
            }
        );
    }
}
