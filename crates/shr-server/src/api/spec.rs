//! The OpenAPI document: every route of [`super::router`], its request and response schemas
//! (error bodies included), links from the create operations to their read operations, the
//! operator route's bearer scheme. The risk engine reference's root paths (`/vaults`, ...) are
//! copies of their `/api/...` twins under their own operation ids.

use axum::Json;
use serde_json::{Value, json};
use utoipa::{
    OpenApi,
    openapi::{PathItem, path::Operation},
};

use super::{
    ApiError, DarkPoolRequest, Health, Incident, ScenarioLatest, Started, reference, vaults,
};
use crate::{Event, ReserveView, RunView};

/// The OpenAPI document of every route the server answers (served at `/api/openapi.json`):
/// `/api/...`, the risk engine reference's root paths, the dashboard's files.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Self-Healing Reserve API",
        description = "Public attestation state, scenario runs and their steps, dark-pool request statuses, incidents, and an SSE event stream. Private figures only on the operator route (bearer token)."
    ),
    paths(
        super::reserve,
        super::start_scenario,
        super::list_scenarios,
        super::get_scenario,
        super::get_run,
        super::darkpool_requests,
        super::incidents,
        super::health,
        super::events,
        super::operator_view,
        super::privacy,
        openapi_json,
        crate::assets::index,
        crate::assets::file,
        super::reference::health,
        super::reference::ws,
        super::vaults::vaults,
        super::vaults::vault,
        super::vaults::simulate,
        super::vaults::simulation,
        super::vaults::execute,
        super::vaults::rebalances
    ),
    modifiers(&BearerScheme, &ReferencePaths),
    components(schemas(
        ReserveView,
        RunView,
        ScenarioLatest,
        Event,
        ApiError,
        Started,
        DarkPoolRequest,
        Incident,
        Health,
        reference::HealthSummary,
        reference::VaultHealth,
        crate::vaults::VaultView,
        crate::vaults::RebalanceEvent,
        crate::vaults::PlanBundle,
        crate::vaults::EncodedCall,
        crate::vaults::PlanMetadata,
        crate::vaults::Execution,
        crate::vaults::SimulationView,
        crate::vaults::TickView,
        crate::vaults::PriceChange,
        vaults::ExecuteBody,
        crate::privacy::Budget,
        crate::privacy::Disclosure
    ))
)]
pub struct ApiDoc;

/// Declares the operator route's `bearer` security scheme.
struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The risk engine reference's root paths and the `/api/...` route each one answers like.
pub(super) const REFERENCE_PATHS: [(&str, &str); 5] = [
    ("/vaults", "/api/vaults"),
    ("/vaults/{id}", "/api/vaults/{id}"),
    ("/simulate", "/api/simulate"),
    ("/execute", "/api/execute"),
    ("/rebalances", "/api/rebalances"),
];

/// Adds the reference's root paths as copies of their `/api/...` twins, each operation id
/// suffixed `_reference` (operation ids are unique in a document; links keep naming the
/// `/api/...` operations).
struct ReferencePaths;

impl utoipa::Modify for ReferencePaths {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (root, api) in REFERENCE_PATHS {
            let Some(mut item) = openapi.paths.paths.get(api).cloned() else { continue };
            for op in operations(&mut item) {
                op.operation_id = op.operation_id.take().map(|id| format!("{id}_reference"));
                op.tags = Some(vec!["reference".into()]);
            }
            openapi.paths.paths.insert(root.into(), item);
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", operation_id = "openapi",
    responses((status = 200, content_type = "application/json", body = Object, description = "OpenAPI 3.1")))]
pub(super) async fn openapi_json() -> Json<Value> {
    Json(openapi_document())
}

/// The OpenAPI document as served: [`ApiDoc`] with what its derive cannot say written in.
///
/// - Link objects' fields in the spec's spelling (`operationId`; utoipa 5.5 serialises
///   `operation_id`, which validators reject as a link without a target).
/// - The event streams (`/api/events`, `/ws`) described per event, as OpenAPI 3.2's
///   `itemSchema` reads them and validators apply to 3.1: `event`, and `data` as JSON text
///   (`contentMediaType`) with its `contentSchema`; a `lagged` event's data is the number of
///   events the client missed.
/// - `POST /api/execute`'s body as exactly one of its two forms; `POST /api/simulate`'s 500 as
///   either a simulation's view or an `ApiError`.
/// - Every unbounded integer parameter bounded by `i64::MAX`, as an exact integer.
pub fn openapi_document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serialises");
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            let Some(ops) = item.as_object_mut() else { continue };
            for op in ops.values_mut() {
                let Some(responses) = op["responses"].as_object_mut() else { continue };
                for response in responses.values_mut() {
                    let Some(links) = response.get_mut("links").and_then(Value::as_object_mut)
                    else {
                        continue;
                    };
                    for link in links.values_mut().filter_map(Value::as_object_mut) {
                        for (from, to) in [
                            ("operation_id", "operationId"),
                            ("operation_ref", "operationRef"),
                            ("request_body", "requestBody"),
                        ] {
                            if let Some(v) = link.remove(from) {
                                link.insert(to.into(), v);
                            }
                        }
                    }
                }
            }
        }
    }
    // Every integer a route takes without a stated bound is at most MAX_ID (the routes refuse
    // more), stated as an exact integer (utoipa writes bounds as floats).
    if let Some(paths) = doc["paths"].as_object_mut() {
        for op in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|i| i.values_mut()) {
            let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
                continue;
            };
            for schema in params.iter_mut().map(|p| &mut p["schema"]) {
                if schema["type"] == "integer" && schema.get("maximum").is_none() {
                    schema["maximum"] = json!(MAX_ID);
                }
            }
        }
    }
    let events = sse_item(json!({ "$ref": "#/components/schemas/Event" }));
    let envelope = sse_item(json!({
        "type": "object",
        "required": ["type", "timestamp", "data"],
        "properties": {
            "type": { "type": "string" },
            "timestamp": { "type": "string", "format": "date-time" },
            "data": {}
        }
    }));
    // A simulation that stopped on an error answers its view; a desk that failed, an ApiError.
    for path in ["/api/simulate", "/simulate"] {
        let media =
            &mut doc["paths"][path]["post"]["responses"]["500"]["content"]["application/json"];
        let view = media["schema"].take();
        media["schema"] = json!({ "oneOf": [view, { "$ref": "#/components/schemas/ApiError" }] });
    }
    for (path, schema) in [("/api/events", events), ("/ws", envelope)] {
        doc["paths"][path]["get"]["responses"]["200"]["content"]["text/event-stream"]["schema"] =
            schema;
    }
    let vault_id = json!({ "oneOf": [
        { "type": "integer", "minimum": 0, "maximum": MAX_ID, "description": "Market id" },
        { "type": "string", "description": "The reference's vault id (VAULT-B-WEETH-BETH)" }
    ]});
    doc["components"]["schemas"]["ExecuteBody"] = json!({
        "description": "One vault (`vaultId`, with `applyAll` absent, null or false) or every breached vault (`applyAll: true`, `vaultId` absent or null).",
        "oneOf": [
            {
                "type": "object",
                "required": ["vaultId"],
                "properties": { "vaultId": vault_id, "applyAll": { "enum": [false, null] } },
                "additionalProperties": false
            },
            {
                "type": "object",
                "required": ["applyAll"],
                "properties": { "applyAll": { "enum": [true] }, "vaultId": { "type": "null" } },
                "additionalProperties": false
            }
        ]
    });
    doc
}

/// The largest id or count a route takes: `i64::MAX`, what every client's JSON can carry.
pub(super) const MAX_ID: u64 = i64::MAX as u64;

/// One server-sent event whose `data` is JSON under `schema`, or a `lagged` event.
fn sse_item(schema: Value) -> Value {
    json!({ "oneOf": [
        {
            "type": "object",
            "required": ["data"],
            "properties": {
                "event": { "type": "string", "not": { "const": "lagged" } },
                "data": { "type": "string", "contentMediaType": "application/json", "contentSchema": schema },
                "id": { "type": "string" },
                "retry": { "type": "integer" }
            }
        },
        {
            "type": "object",
            "required": ["event", "data"],
            "properties": {
                "event": { "const": "lagged" },
                "data": { "type": "string", "pattern": "^[0-9]+$", "description": "Events missed" }
            }
        }
    ]})
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every `.route(path, method(...))` of `api.rs`'s router, read from its source so that a
    /// route added there without its spec fails here.
    fn routed() -> BTreeSet<(String, String)> {
        let src = include_str!("../api.rs");
        let body = &src[src.find("pub fn router").expect("router fn")..];
        let body = &body[..body.find("\n}\n").expect("end of router")];
        let mut out = BTreeSet::new();
        for line in body.split(".route(").skip(1) {
            let path = line.split('"').nth(1).expect("route path");
            let rest = &line[line.find(',').expect("route handler")..];
            for method in ["get", "post", "put", "delete", "patch"] {
                if rest.contains(&format!("{method}(")) {
                    out.insert((path.to_owned(), method.to_owned()));
                }
            }
        }
        out
    }

    #[test]
    fn the_spec_names_every_route_and_method() {
        let doc = openapi_document();
        let routes = routed();
        assert!(routes.len() >= 27, "router parse found only {routes:?}");
        for (path, method) in &routes {
            assert!(
                doc["paths"][path][method].is_object(),
                "{} {path} is routed but not in the OpenAPI document",
                method.to_uppercase()
            );
        }
        // And nothing in the document that the router does not answer.
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                assert!(
                    routes.contains(&(path.clone(), method.clone())),
                    "{} {path} is in the document but not routed",
                    method.to_uppercase()
                );
            }
        }
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    }

    #[test]
    fn operation_ids_are_unique_and_links_name_real_operations() {
        let doc = openapi_document();
        let mut ids = BTreeSet::new();
        let mut links = Vec::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                let id = op["operationId"].as_str().expect("every operation has an id");
                assert!(ids.insert(id.to_owned()), "operation id {id} twice");
                for resp in op["responses"].as_object().unwrap().values() {
                    if let Some(l) = resp["links"].as_object() {
                        links.extend(l.values().map(|l| l["operationId"].clone()));
                    }
                }
            }
        }
        assert!(links.len() >= 3, "links from create to read operations: {links:?}");
        for l in links {
            assert!(ids.contains(l.as_str().unwrap()), "link to unknown operation {l}");
        }
    }
}
