//! An example "tool server" (feature `axum`): a few JSON tool endpoints an
//! agent would call, protected by the [`AgentcapLayer`](crate::AgentcapLayer).
//! The CLI's `serve` and `demo` run it.
//!
//! | route | resource, operation | answer |
//! |---|---|---|
//! | `GET /flights/{route...}` | `flights/...`, `read` | flight offers |
//! | `GET /hotels/{city...}` | `hotels/...`, `read` | hotel offers |
//! | `POST /payments/charge?amount=N` | `payments/charge`, `write`, `quantity("amount", N)` | a charge receipt |
//! | `GET /calendar/{user}` | `calendar/{user}`, `read` | free slots |
//!
//! Every answer names who it served: the user and the agent chain.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::axum_support::Authorized;
use crate::middleware::AgentcapLayer;

/// The tool server's routes behind `layer`.
pub fn router(layer: AgentcapLayer) -> Router {
    Router::new()
        .route("/flights/{*route}", get(flights))
        .route("/hotels/{*city}", get(hotels))
        .route("/payments/charge", post(charge))
        .route("/calendar/{user}", get(calendar))
        .layer(layer)
}

fn served_for(delegation: &Authorized) -> Value {
    json!({
        "user": delegation.0.user(),
        "agents": delegation.0.agents(),
        "holder": delegation.0.holder(),
    })
}

async fn flights(delegation: Authorized, Path(route): Path<String>) -> Json<Value> {
    Json(json!({
        "tool": "flight-search",
        "route": route,
        "offers": [
            {"flight": "TP1351", "departs": "07:05", "price_eur": 189},
            {"flight": "FR7612", "departs": "13:40", "price_eur": 142},
        ],
        "served_for": served_for(&delegation),
    }))
}

async fn hotels(delegation: Authorized, Path(city): Path<String>) -> Json<Value> {
    Json(json!({
        "tool": "hotel-search",
        "city": city,
        "offers": [{"hotel": "Ritz", "price_eur": 420}, {"hotel": "Pensão Amor", "price_eur": 85}],
        "served_for": served_for(&delegation),
    }))
}

#[derive(Deserialize)]
struct Charge {
    amount: i64,
}

async fn charge(delegation: Authorized, Query(charge): Query<Charge>) -> Json<Value> {
    Json(json!({
        "tool": "payments",
        "charged_eur": charge.amount,
        "receipt": format!("rcpt-{}", charge.amount),
        "served_for": served_for(&delegation),
    }))
}

async fn calendar(delegation: Authorized, Path(user): Path<String>) -> Json<Value> {
    Json(json!({
        "tool": "calendar",
        "user": user,
        "free": ["2026-12-01T09:00Z/12:00Z", "2026-12-02T14:00Z/18:00Z"],
        "served_for": served_for(&delegation),
    }))
}
