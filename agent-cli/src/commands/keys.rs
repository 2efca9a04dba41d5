//! `agentcap keys generate|public`.

use agentcap::{KeyFormat, KeyPair, Overwrite};
use serde_json::json;

use crate::Outcome;
use crate::cli::{KeysGenerateArgs, KeysPublicArgs};
use crate::error::{CliError, CliResult};
use crate::input::{SIGNING_KEY_ENV, SecretSource, check_path_arg};
use crate::output::{Format, emit, note};

/// `agentcap keys generate --out FILE [--force] [--pem]`
pub fn generate(args: KeysGenerateArgs, format: Format) -> CliResult<Outcome> {
    check_path_arg(&args.out, "--out", None)?;
    if args.out.as_os_str() == "-" {
        return Err(CliError::usage(
            "--out must be a file: a private key is never written to stdout",
        ));
    }
    let overwrite = if args.force {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    };
    let key_format = if args.pem {
        KeyFormat::Pem
    } else {
        KeyFormat::Text
    };
    let key = KeyPair::generate();
    key.save(&args.out, key_format, overwrite)?;
    let public = key.public();
    note(
        format,
        format!("wrote private key to {} (mode 0600)", args.out.display()),
    );
    emit(
        format,
        || public.to_string(),
        || json!({"key_file": args.out.display().to_string(), "public_key": public.to_string()}),
    );
    Ok(Outcome::Ok)
}

/// `agentcap keys public --key-file FILE`
pub fn public(args: KeysPublicArgs, format: Format) -> CliResult<Outcome> {
    let source = SecretSource::new("--key-file", Some(args.key_file), SIGNING_KEY_ENV)?;
    let key = source.keypair()?;
    let public = key.public();
    let pem = if args.pem {
        Some(public.to_pem()?)
    } else {
        None
    };
    emit(
        format,
        || pem.clone().unwrap_or_else(|| public.to_string()),
        || {
            let mut v = json!({"public_key": public.to_string()});
            if let Some(pem) = &pem {
                v["pem"] = json!(pem);
            }
            v
        },
    );
    Ok(Outcome::Ok)
}
