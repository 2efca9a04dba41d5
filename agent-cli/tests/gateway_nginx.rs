//! nginx from Debian's packages, software no one here wrote, in front of a
//! plain upstream with `auth_request` pointed at `agentcap gateway`'s
//! authorization endpoint: no token gets 401 with the gateway's challenge,
//! an allowed request reaches the upstream with the identity the gateway
//! proved (not the one the client forged), an ungranted one gets 403.
//!
//! `.ci/run` installs nginx and sets `AGENTCAP_NGINX` and
//! `AGENTCAP_REQUIRE_NGINX=1`, so there a missing nginx fails the test.
//! Elsewhere, without it, the test says so and passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod gateway_support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method, Uri};
use gateway_support::{
    alice_chain, collect, free_port, require_tool, runs_ok, start_agentcap, wait_for_port,
};
use serde_json::{Value, json};

/// nginx: `$AGENTCAP_NGINX`, else `nginx` on the PATH, else Debian's path.
fn nginx_program() -> Option<String> {
    require_tool(
        "AGENTCAP_NGINX",
        "AGENTCAP_REQUIRE_NGINX",
        &["nginx", "/usr/sbin/nginx"],
        |program| runs_ok(program, &["-v"]),
    )
}

/// An nginx master process with its own prefix and config, stopped (then
/// killed if need be) when dropped.
struct Nginx {
    program: String,
    dir: PathBuf,
    child: Child,
}

/// nginx's prefix and config options for `dir`.
fn nginx_args(dir: &Path) -> [String; 4] {
    [
        "-p".into(),
        format!("{}/", dir.display()),
        "-c".into(),
        dir.join("nginx.conf").display().to_string(),
    ]
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new(&self.program)
            .args(nginx_args(&self.dir))
            .args(["-s", "stop"])
            .stderr(Stdio::null())
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The config: every path in `dir`, `auth_request` to the gateway's
/// authorization endpoint, the proven identity set on the upstream request.
fn nginx_conf(dir: &Path, port: u16, gateway: &str, upstream: &str) -> String {
    let d = dir.display();
    format!(
        r#"worker_processes 1;
error_log {d}/error.log info;
pid {d}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  access_log {d}/access.log;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      auth_request /_agentcap_auth;
      auth_request_set $ac_user $upstream_http_x_agentcap_user;
      auth_request_set $ac_agents $upstream_http_x_agentcap_agents;
      auth_request_set $ac_token_id $upstream_http_x_agentcap_token_id;
      proxy_set_header X-Agentcap-User $ac_user;
      proxy_set_header X-Agentcap-Agents $ac_agents;
      proxy_set_header X-Agentcap-Token-Id $ac_token_id;
      proxy_set_header Authorization "";
      proxy_pass {upstream};
    }}
    location = /_agentcap_auth {{
      internal;
      proxy_pass {gateway}_agentcap/authz;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
    }}
  }}
}}
"#
    )
}

/// Checks the config, then runs nginx in the foreground until it listens.
fn start_nginx(program: &str, dir: &Path, gateway: &str, upstream: &str) -> (Nginx, String) {
    std::fs::create_dir_all(dir).unwrap();
    let port = free_port();
    let conf = nginx_conf(dir, port, gateway, upstream.trim_end_matches('/'));
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let test = Command::new(program)
        .args(nginx_args(dir))
        .arg("-t")
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&test.stderr)
    );
    let mut child = Command::new(program)
        .args(nginx_args(dir))
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = collect(child.stderr.take().unwrap());
    let nginx = Nginx {
        program: program.to_owned(),
        dir: dir.to_owned(),
        child,
    };
    wait_for_port(SocketAddr::from(([127, 0, 0, 1], port)), &log);
    (nginx, format!("http://127.0.0.1:{port}"))
}

/// A plain upstream that answers every request with what it received: the
/// method, path and query, the identity headers, and whether a token came.
fn start_echo_upstream() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = axum::Router::new().fallback(echo);
            axum::serve(listener, app).await.unwrap();
        });
    });
    url
}

async fn echo(method: Method, uri: Uri, headers: HeaderMap) -> axum::Json<Value> {
    let header = |name: &str| {
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or("?"))
            .collect();
        json!(values)
    };
    axum::Json(json!({
        "method": method.as_str(),
        "uri": uri.to_string(),
        "user": header("x-agentcap-user"),
        "agents": header("x-agentcap-agents"),
        "token_id": header("x-agentcap-token-id"),
        "authorization": headers.contains_key("authorization"),
    }))
}

/// One request to nginx: status, the `WWW-Authenticate` header, the body.
fn send(method: &str, url: &str, headers: &[(&str, &str)]) -> (u16, String, Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut request = reqwest::Client::new()
            .request(method.parse().unwrap(), url)
            .timeout(Duration::from_secs(30));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.bytes().await.unwrap();
        (
            status,
            challenge,
            serde_json::from_slice(&body).unwrap_or(Value::Null),
        )
    })
}

#[test]
fn nginx_auth_request_through_the_gateway_guards_a_plain_upstream() {
    let Some(program) = nginx_program() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rights = [
        "--right",
        "flights/*:read",
        "--right",
        "payments/charge:write",
        "--cap",
        "payments/charge:write:amount<=500",
    ];
    let (root_pub, _t0, t1) = alice_chain(dir, &rights, &rights);
    let upstream = start_echo_upstream();
    let (_gateway, gateway, _gateway_log) = start_agentcap(
        dir,
        &[
            "gateway",
            "--upstream",
            &upstream,
            "--listen",
            "127.0.0.1:0",
            "--root-public-key",
            &root_pub,
            "--audit-log",
            "audit.jsonl",
        ],
    );
    let (_nginx, front) = start_nginx(&program, &dir.join("nginx"), &gateway, &upstream);
    let bearer = format!("Bearer {t1}");
    let flights = format!("{front}/flights/lis?day=2026-12-01");

    let (status, challenge, _) = send("GET", &flights, &[]);
    assert_eq!(status, 401);
    assert!(challenge.starts_with("Bearer "), "{challenge:?}");
    assert!(challenge.contains("resource_metadata="), "{challenge:?}");
    let (status, challenge, _) = send("GET", &flights, &[("authorization", "Bearer garbage")]);
    assert_eq!(status, 401);
    assert!(challenge.starts_with("Bearer "), "{challenge:?}");

    let forged = [
        ("authorization", bearer.as_str()),
        ("x-agentcap-user", "\"mallory\""),
        ("x-agentcap-agents", "[\"mallory\"]"),
    ];
    let (status, _, seen) = send("GET", &flights, &forged);
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["method"], "GET");
    assert_eq!(seen["uri"], "/flights/lis?day=2026-12-01");
    assert_eq!(seen["user"], json!(["\"alice\""]), "{seen}");
    assert_eq!(
        seen["agents"],
        json!([r#"["travel-assistant","flight-search"]"#]),
        "{seen}"
    );
    let token_id = seen["token_id"][0].as_str().unwrap();
    assert!(
        !token_id.is_empty() && token_id.chars().all(|c| c.is_ascii_hexdigit()),
        "{seen}"
    );
    assert_eq!(seen["authorization"], false, "the token is not passed on");

    let auth = [("authorization", bearer.as_str())];
    assert_eq!(send("GET", &format!("{front}/hotels/lisbon"), &auth).0, 403);
    // The method reaches the gateway only through X-Original-Method.
    assert_eq!(send("POST", &flights, &auth).0, 403);
    let (status, _, seen) = send(
        "POST",
        &format!("{front}/payments/charge?amount=400"),
        &auth,
    );
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["method"], "POST");
    let over = format!("{front}/payments/charge?amount=900");
    assert_eq!(send("POST", &over, &auth).0, 403, "above the cap");

    let audit = gateway_support::json_lines(&dir.join("audit.jsonl"));
    assert!(
        audit.iter().any(|r| r["decision"] == "deny"
            && r["resource"] == "payments/charge"
            && r["user"] == "alice"),
        "{audit:?}"
    );
}
