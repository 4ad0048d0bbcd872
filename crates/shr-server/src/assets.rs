//! The dashboard: static files compiled into the binary (no CDN, nothing fetched at run time),
//! the chart library (uPlot) among them, vendored from npm by `build.rs`.

use axum::{
    extract::Path,
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
};

const INDEX: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const FORMAT_JS: &str = include_str!("../assets/format.js");
const CHARTS_JS: &str = include_str!("../assets/charts.js");
const STYLE: &str = include_str!("../assets/style.css");
const UPLOT_JS: &str = include_str!(concat!(env!("OUT_DIR"), "/uplot.js"));
const UPLOT_CSS: &str = include_str!(concat!(env!("OUT_DIR"), "/uplot.css"));

/// The dashboard's page.
#[utoipa::path(get, path = "/", operation_id = "dashboard",
    responses((status = 200, content_type = "text/html", body = String, description = "The dashboard")))]
pub(crate) async fn index() -> Html<&'static str> {
    Html(INDEX)
}

/// One of the dashboard's static files (`app.js`, `format.js`, `charts.js`, `style.css`,
/// `uplot.js`, `uplot.css`).
#[utoipa::path(get, path = "/assets/{file}", operation_id = "asset",
    params(("file" = String, Path, example = "app.js", description = "File name")),
    responses(
        (status = 200, description = "The file", content((String = "text/javascript"), (String = "text/css"))),
        (status = 404, body = crate::api::ApiError, description = "No such file"),
    ))]
pub(crate) async fn file(Path(file): Path<String>) -> Response {
    let (body, mime) = match file.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "format.js" => (FORMAT_JS, "text/javascript; charset=utf-8"),
        "charts.js" => (CHARTS_JS, "text/javascript; charset=utf-8"),
        "style.css" => (STYLE, "text/css; charset=utf-8"),
        "uplot.js" => (UPLOT_JS, "text/javascript; charset=utf-8"),
        "uplot.css" => (UPLOT_CSS, "text/css; charset=utf-8"),
        _ => return crate::api::err(StatusCode::NOT_FOUND, format!("no asset {file:?}")),
    };
    ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}
