//! The browser pages over plain HTTP: what is served, with which headers, and the admin status
//! endpoint behind the admin token. The pages themselves run in Chromium in `e2e.rs`.

use gamehall::client::ClientError;
use gamehall::protocol::{Role, RoomStatus};
use reqwest::header;

use crate::common::{app, play_out};

const ADMIN_TOKEN: &str = "gamehall-development-admin-token";

#[actix_rt::test]
async fn the_pages_and_their_files_are_served_from_the_binary_with_a_strict_policy() {
    let app = app().spawn().await;
    let http = reqwest::Client::new();
    for (path, content_type, marker) in [
        ("/", "text/html; charset=utf-8", "/assets/js/app.js"),
        ("/admin", "text/html; charset=utf-8", "/assets/js/admin.js"),
        (
            "/assets/js/app.js",
            "text/javascript; charset=utf-8",
            "import",
        ),
        (
            "/assets/js/games/tictactoe.js",
            "text/javascript; charset=utf-8",
            "cell",
        ),
        ("/assets/style.css", "text/css; charset=utf-8", ".ttt"),
        ("/assets/icon.svg", "image/svg+xml", "<svg"),
    ] {
        let response = http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        assert_eq!(headers[header::CONTENT_TYPE], content_type, "{path}");
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self';"), "{path}: {csp}");
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
        let etag = headers[header::ETAG].to_str().unwrap().to_owned();
        assert!(response.text().await.unwrap().contains(marker), "{path}");

        // A browser revalidating its copy gets 304 without a body.
        let again = http
            .get(format!("{}{path}", app.address))
            .header(header::IF_NONE_MATCH, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(again.headers()[header::ETAG].to_str().unwrap(), etag);
        assert!(again.bytes().await.unwrap().is_empty());
    }

    // Scripts and styles may travel compressed.
    let gzipped = http
        .get(format!("{}/assets/js/room.js", app.address))
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.headers()[header::CONTENT_ENCODING], "gzip");

    for missing in [
        "/assets/nope.js",
        "/assets/../Cargo.toml",
        "/assets/index.html",
        "/index.html",
    ] {
        let response = http
            .get(format!("{}{missing}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{missing}");
    }
    // The API next to the pages is untouched.
    let rooms = http
        .get(format!("{}/v1/rooms", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(rooms.status(), 200);
    assert_eq!(
        rooms.headers()[header::CONTENT_TYPE],
        "application/json",
        "the API is not served as a page"
    );
}

#[actix_rt::test]
async fn admin_status_needs_the_admin_token() {
    let app = app().spawn().await;
    let url = format!("{}/admin/status", app.address);
    let http = reqwest::Client::new();
    for auth in [
        None,
        Some("Bearer wrong-token-wrong-token"),
        Some(ADMIN_TOKEN),
    ] {
        let mut request = http.get(&url);
        if let Some(value) = auth {
            request = request.header("Authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "auth {auth:?}");
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let player = app.guest("Player").await;
    match app.client.admin_status(&player.token).await {
        Err(ClientError::Api { status, .. }) => assert_eq!(status, 401),
        other => panic!("expected 401, got {other:?}"),
    }
}

#[actix_rt::test]
async fn admin_status_shows_rooms_players_archive_and_key_metrics() {
    let app = app()
        .env("ARCHIVE_FLUSH_INTERVAL", "3600")
        .env("ARCHIVE_BATCH_SIZE", "100")
        .spawn()
        .await;
    let empty = app.client.admin_status(ADMIN_TOKEN).await.unwrap();
    assert!(empty.rooms.is_empty());
    assert_eq!(empty.metrics.moves, 0);

    // One finished game, one waiting room with a player and a spectator.
    let (finished, mut x, mut o) = app.two_player_game("tictactoe").await;
    play_out(&mut x.conn, &mut o.conn, &[0, 3, 1, 4, 2]).await;
    x.conn.game_over().await.unwrap();
    let waiting = app.create_room("tictactoe").await;
    let mut host = app.connect("Hostess").await;
    host.conn.join(&waiting.id, Role::Player).await.unwrap();
    let mut watcher = app.connect("Watcher").await;
    watcher
        .conn
        .join(&waiting.id, Role::Spectator)
        .await
        .unwrap();

    let status = app.client.admin_status(ADMIN_TOKEN).await.unwrap();
    let room = |id| {
        status
            .rooms
            .iter()
            .find(|r| &r.id == id)
            .unwrap_or_else(|| panic!("room {id} listed"))
    };
    let done = room(&finished);
    assert_eq!(done.status, RoomStatus::Finished);
    let names: Vec<&str> = done.players.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Xavier", "Olga"]);
    let open = room(&waiting.id);
    assert_eq!(open.status, RoomStatus::Waiting);
    assert_eq!(open.players.len(), 1);
    assert_eq!(open.players[0].name, "Hostess");
    assert_eq!(open.spectators, 1);

    let archive = status.archive.as_ref().expect("archiving is on");
    assert_eq!((archive.pending, archive.written), (1, 0));
    assert!(!archive.degraded);
    let m = &status.metrics;
    assert_eq!(m.connections, 4);
    assert_eq!((m.rooms, m.active_rooms, m.playing_games), (2, 1, 0));
    assert_eq!((m.games_started, m.games_finished, m.moves), (1, 1, 5));
    assert!(m.rss_bytes.is_some_and(|rss| rss > 1024 * 1024));
    assert!(m.memory_limit_bytes > 0);

    app.client.flush_archive(ADMIN_TOKEN).await.unwrap();
    let flushed = app.client.admin_status(ADMIN_TOKEN).await.unwrap();
    let archive = flushed.archive.expect("archiving is on");
    assert_eq!((archive.pending, archive.written), (0, 1));

    // With archiving off the page still has rooms and metrics to show.
    let no_archive = crate::common::app()
        .env("USE_GAME_ARCHIVAL", "false")
        .spawn()
        .await;
    let status = no_archive.client.admin_status(ADMIN_TOKEN).await.unwrap();
    assert!(status.archive.is_none());
}

/// The property names of schema `name` in docs/openapi.yaml.
fn documented_fields(name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.yaml"))
        .expect("docs/openapi.yaml is readable");
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("openapi.yaml is YAML");
    let mut fields: Vec<String> = doc["components"]["schemas"][name]["properties"]
        .as_mapping()
        .unwrap_or_else(|| panic!("schema {name} is documented"))
        .keys()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    fields.sort();
    fields
}

fn keys(value: &serde_json::Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

#[actix_rt::test]
async fn admin_status_is_what_openapi_yaml_documents() {
    let app = app().spawn().await;
    app.create_room("tictactoe").await;
    let body: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/admin/status", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys(&body), documented_fields("AdminStatus"));
    assert_eq!(keys(&body["archive"]), documented_fields("ArchiveCounters"));
    assert_eq!(keys(&body["metrics"]), documented_fields("KeyMetrics"));
    let room = &body["rooms"][0];
    for field in keys(room) {
        assert!(
            documented_fields("RoomSummary").contains(&field),
            "RoomSummary.{field} is not documented"
        );
    }
}

// ---- every route, documented; every answer, as documented -------------------------------------

fn openapi() -> serde_yaml_ng::Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.yaml"))
        .expect("docs/openapi.yaml is readable");
    serde_yaml_ng::from_str(&text).expect("openapi.yaml is YAML")
}

/// Follows a local `$ref` (`#/components/...`), or returns `node` itself.
fn resolved<'a>(
    doc: &'a serde_yaml_ng::Value,
    node: &'a serde_yaml_ng::Value,
) -> &'a serde_yaml_ng::Value {
    match node["$ref"].as_str() {
        Some(reference) => {
            let target = reference
                .strip_prefix("#/")
                .unwrap_or_else(|| panic!("{reference} is not a local reference"))
                .split('/')
                .fold(doc, |node, key| &node[key]);
            assert!(!target.is_null(), "{reference} names nothing");
            resolved(doc, target)
        }
        None => node,
    }
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every (method, path) docs/openapi.yaml documents.
fn documented_routes(doc: &serde_yaml_ng::Value) -> std::collections::BTreeSet<(String, String)> {
    let mut routes = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_mapping().expect("paths") {
        let path = path.as_str().expect("a path is a string");
        for method in METHODS {
            if !item[method].is_null() {
                routes.insert((method.to_owned(), path.to_owned()));
            }
        }
    }
    routes
}

/// The text of the first string literal at the start of `text` (after `"`), and the rest.
fn literal(text: &str) -> (&str, &str) {
    let end = text.find('"').expect("a string literal ends");
    (&text[..end], &text[end + 1..])
}

/// Every (method, path) the server mounts, read from the `.route("...", web::METHOD()...)`
/// calls in src/http (with the prefix of the `web::scope` they sit in) and the metrics
/// endpoint in src/startup.rs. Paths come out in OpenAPI form: `{path:.+}` is `{path}`.
fn mounted_routes() -> std::collections::BTreeSet<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut routes = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(root.join("src/http")).expect("src/http is readable") {
        let file = entry.expect("a directory entry").path();
        if file.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&file).expect("a source file is readable");
            routes_in(&text, &mut routes);
        }
    }
    // actix-web-prom answers the endpoint it is built with, outside http::routes.
    let startup = std::fs::read_to_string(root.join("src/startup.rs")).expect("src/startup.rs");
    let (_, after) = startup
        .split_once(".endpoint(\"")
        .expect("the metrics middleware names its endpoint");
    routes.insert(("get".to_owned(), literal(after).0.to_owned()));
    routes
}

fn routes_in(source: &str, routes: &mut std::collections::BTreeSet<(String, String)>) {
    // Comments may hold unbalanced parentheses and example calls; code here has none in strings.
    let code: String = source
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    // One entry per open parenthesis: the scope prefix its contents are under.
    let mut open: Vec<String> = Vec::new();
    let mut rest = code.as_str();
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("web::scope(\"") {
            let (prefix, after) = literal(after);
            // The scope's routes are chained onto it inside the enclosing call.
            if let Some(enclosing) = open.last_mut() {
                enclosing.push_str(prefix);
            }
            open.push(String::new());
            rest = after;
        } else if let Some(after) = rest.strip_prefix(".route(\"") {
            let (path, after) = literal(after);
            let method = after
                .split_once("web::")
                .and_then(|(_, m)| m.split_once("()"))
                .map(|(m, _)| m.to_owned())
                .expect("a route names its method");
            assert!(
                METHODS.contains(&method.as_str()),
                "{path}: method {method}"
            );
            let mut full = open.concat();
            full.push_str(path);
            // `{name:regex}` is `{name}` in OpenAPI.
            let mut openapi_path = String::new();
            let (mut in_param, mut in_regex) = (false, false);
            for ch in full.chars() {
                match ch {
                    '{' => {
                        in_param = true;
                        openapi_path.push(ch);
                    }
                    '}' => {
                        (in_param, in_regex) = (false, false);
                        openapi_path.push(ch);
                    }
                    ':' if in_param => in_regex = true,
                    _ if in_regex => {}
                    _ => openapi_path.push(ch),
                }
            }
            routes.insert((method, openapi_path));
            open.push(String::new());
            rest = after;
        } else if c == '"' {
            rest = literal(&rest[1..]).1;
        } else {
            match c {
                '(' => open.push(String::new()),
                ')' => {
                    open.pop();
                }
                _ => {}
            }
            rest = &rest[c.len_utf8()..];
        }
    }
}

/// Checks `value` against `schema` of docs/openapi.yaml: types, enums, `required`, and no
/// property the schema does not name (unless it allows additional properties). `at` names the
/// place in failure messages.
fn assert_conforms(
    doc: &serde_yaml_ng::Value,
    schema: &serde_yaml_ng::Value,
    value: &serde_json::Value,
    at: &str,
) {
    let schema = resolved(doc, schema);
    if value.is_null() {
        assert!(
            schema["nullable"].as_bool() == Some(true)
                || schema.as_mapping().is_some_and(|m| m.is_empty()),
            "{at} is null but not nullable"
        );
        return;
    }
    if let Some(parts) = schema["allOf"].as_sequence() {
        for part in parts {
            assert_conforms(doc, part, value, at);
        }
    }
    if let Some(options) = schema["enum"].as_sequence() {
        let allowed: Vec<serde_json::Value> = options
            .iter()
            .map(|o| serde_json::to_value(o).expect("an enum value is JSON"))
            .collect();
        assert!(
            allowed.contains(value),
            "{at} = {value} is not one of {allowed:?}"
        );
    }
    match schema["type"].as_str() {
        Some("string") => {
            let text = value
                .as_str()
                .unwrap_or_else(|| panic!("{at} = {value} is not a string"));
            if schema["format"].as_str() == Some("date-time") {
                chrono::DateTime::parse_from_rfc3339(text)
                    .unwrap_or_else(|e| panic!("{at} = {text} is not a date-time: {e}"));
            }
        }
        Some("integer") => assert!(
            value.is_i64() || value.is_u64(),
            "{at} = {value} is not an integer"
        ),
        Some("number") => assert!(value.is_number(), "{at} = {value} is not a number"),
        Some("boolean") => assert!(value.is_boolean(), "{at} = {value} is not a boolean"),
        Some("array") => {
            let items = value
                .as_array()
                .unwrap_or_else(|| panic!("{at} = {value} is not an array"));
            for (i, item) in items.iter().enumerate() {
                assert_conforms(doc, &schema["items"], item, &format!("{at}[{i}]"));
            }
        }
        Some("object") => {
            let object = value
                .as_object()
                .unwrap_or_else(|| panic!("{at} = {value} is not an object"));
            for field in schema["required"].as_sequence().into_iter().flatten() {
                let field = field.as_str().expect("a required field is named");
                assert!(
                    object.contains_key(field),
                    "{at}.{field} is required but missing: {value}"
                );
            }
            let extra = &schema["additionalProperties"];
            for (key, field) in object {
                let property = &schema["properties"][key.as_str()];
                let place = format!("{at}.{key}");
                if !property.is_null() {
                    assert_conforms(doc, property, field, &place);
                } else if extra.is_mapping() {
                    assert_conforms(doc, extra, field, &place);
                } else {
                    assert_eq!(extra.as_bool(), Some(true), "{place} is not documented");
                }
            }
        }
        Some(other) => panic!("{at}: schema type {other} is not checked here"),
        None => {}
    }
}

/// Checks `value` against schema `name` of docs/openapi.yaml, for answers other modules'
/// tests provoke (a degraded readiness needs a database cut off).
pub(crate) fn assert_documented_as(name: &str, value: &serde_json::Value) {
    let doc = openapi();
    let schema = &doc["components"]["schemas"][name];
    assert!(!schema.is_null(), "schema {name} is documented");
    assert_conforms(&doc, schema, value, name);
}

/// The documented response of `method path` for `status`, resolved.
fn documented_response<'a>(
    doc: &'a serde_yaml_ng::Value,
    method: &str,
    path: &str,
    status: u16,
) -> &'a serde_yaml_ng::Value {
    let response = &doc["paths"][path][method]["responses"][status.to_string().as_str()];
    assert!(
        !response.is_null(),
        "{method} {path} answers {status}, which is not documented"
    );
    resolved(doc, response)
}

/// Sends `request`, checks that its status is documented for `method path` with the content
/// type the answer really has, and that a JSON body conforms to the documented schema.
/// Returns the status and the JSON body (`Null` when the body is not JSON).
async fn documented_answer(
    doc: &serde_yaml_ng::Value,
    method: &str,
    path: &str,
    request: reqwest::RequestBuilder,
) -> (u16, serde_json::Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.bytes().await.unwrap();
    let documented = documented_response(doc, method, path, status);
    let content = &documented["content"];
    let Some(content_type) = content_type.filter(|_| !bytes.is_empty()) else {
        assert!(
            content.is_null(),
            "{method} {path} {status}: the body is empty, but content is documented"
        );
        return (status, serde_json::Value::Null);
    };
    // Keys may leave out the parameters (`text/html` for `text/html; charset=utf-8`).
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let media = match &content[content_type.as_str()] {
        serde_yaml_ng::Value::Null => &content[essence],
        exact => exact,
    };
    assert!(
        !media.is_null(),
        "{method} {path} {status}: {content_type} is not documented"
    );
    if content_type != "application/json" {
        return (status, serde_json::Value::Null);
    }
    let body: serde_json::Value = serde_json::from_slice(&bytes).expect("a JSON body");
    assert_conforms(
        doc,
        &media["schema"],
        &body,
        &format!("{method} {path} {status}"),
    );
    (status, body)
}

#[test]
fn the_route_reader_finds_routes_scopes_and_their_methods() {
    let mut routes = std::collections::BTreeSet::new();
    routes_in(
        r#"
        // .route("/commented", web::get())
        cfg.route("/a/{id}", web::get().to(a))
            .route("/a/{id}", web::post().to(b("(")))
            .service(web::scope("/s").wrap(X::default()).route("/{path:.+}", web::get().to(c)))
            .route("/after", web::delete().to(d));
        "#,
        &mut routes,
    );
    let found: Vec<(&str, &str)> = routes
        .iter()
        .map(|(m, p)| (m.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("delete", "/after"),
            ("get", "/a/{id}"),
            ("get", "/s/{path}"),
            ("post", "/a/{id}")
        ]
    );
}

#[actix_rt::test]
async fn every_mounted_route_is_documented_and_answers_as_documented() {
    let doc = openapi();
    let mounted = mounted_routes();
    for known in [
        ("get", "/v1/games/{id}/events"),
        ("post", "/admin/archive/flush"),
        ("get", "/assets/{path}"),
        ("get", "/metrics"),
    ] {
        assert!(
            mounted.contains(&(known.0.to_owned(), known.1.to_owned())),
            "the route reader missed {known:?}: {mounted:?}"
        );
    }
    let documented = documented_routes(&doc);
    let undocumented: Vec<_> = mounted.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "mounted but not in docs/openapi.yaml: {undocumented:?}"
    );
    let unmounted: Vec<_> = documented.difference(&mounted).collect();
    assert!(
        unmounted.is_empty(),
        "in docs/openapi.yaml but not mounted: {unmounted:?}"
    );

    // Each one, asked without credentials or a body, is answered by its handler (not the
    // router's empty 404) with a documented status, content type and shape.
    let app = app().spawn().await;
    let room = app.create_room("tictactoe").await;
    let (game, mut x, mut o) = app.two_player_game("tictactoe").await;
    play_out(&mut x.conn, &mut o.conn, &[0, 3, 1, 4, 2]).await;
    x.conn.game_over().await.unwrap();
    let game_id = app
        .client
        .get_room(&game)
        .await
        .unwrap()
        .game_id
        .to_string();
    app.client.flush_archive(ADMIN_TOKEN).await.unwrap();
    let http = reqwest::Client::new();
    for (method, path) in &documented {
        let concrete = path
            .replace("/v1/rooms/{id}", &format!("/v1/rooms/{}", room.id))
            .replace("/v1/games/{id}", &format!("/v1/games/{game_id}"))
            .replace("{path}", "style.css");
        assert!(!concrete.contains('{'), "no example value for {path}");
        let url = format!("{}{concrete}", app.address);
        let request = match method.as_str() {
            "get" => http.get(&url),
            "post" => http.post(&url),
            other => panic!("{other} {path}: no probe for this method"),
        };
        let (status, _) = documented_answer(&doc, method, path, request).await;
        assert!(status < 500, "{method} {path}: {status}");
    }
}

#[actix_rt::test]
async fn the_archive_admin_and_metrics_answers_are_what_openapi_yaml_documents() {
    let doc = openapi();
    let app = app().spawn().await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", app.address);
    // Two finished games, so that the first page of one has a `next`.
    let mut games = Vec::new();
    for _ in 0..2 {
        let (room, mut x, mut o) = app.two_player_game("tictactoe").await;
        play_out(&mut x.conn, &mut o.conn, &[0, 3, 1, 4, 2]).await;
        x.conn.game_over().await.unwrap();
        games.push(
            app.client
                .get_room(&room)
                .await
                .unwrap()
                .game_id
                .to_string(),
        );
    }

    let flush = |token: Option<&str>| {
        let request = http.post(url("/admin/archive/flush"));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    };
    let (status, report) = documented_answer(
        &doc,
        "post",
        "/admin/archive/flush",
        flush(Some(ADMIN_TOKEN)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(keys(&report), documented_fields("FlushReport"));
    assert_eq!(
        (&report["flushed"], &report["pending"]),
        (&2.into(), &0.into())
    );
    for token in [None, Some("wrong-token-wrong-token")] {
        let (status, body) =
            documented_answer(&doc, "post", "/admin/archive/flush", flush(token)).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (401, &"unauthorized".into())
        );
    }

    let (status, page) =
        documented_answer(&doc, "get", "/v1/games", http.get(url("/v1/games?limit=1"))).await;
    assert_eq!(status, 200);
    assert_eq!(keys(&page), documented_fields("GamePage"));
    assert_eq!(keys(&page["games"][0]), documented_fields("GameSummaryRow"));
    assert_eq!(
        keys(&page["games"][0]["players"][0]),
        documented_fields("ArchivedPlayer")
    );
    let next = page["next"].as_str().expect("a full first page has a next");
    let (_, last) = documented_answer(
        &doc,
        "get",
        "/v1/games",
        http.get(url("/v1/games"))
            .query(&[("limit", "1"), ("before", next)]),
    )
    .await;
    assert!(last["next"].is_null(), "{last}");
    for bad in ["limit=0", "before=WzFd", "colour=red"] {
        let (status, body) = documented_answer(
            &doc,
            "get",
            "/v1/games",
            http.get(url(&format!("/v1/games?{bad}"))),
        )
        .await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (400, &"bad_request".into()),
            "{bad}"
        );
    }

    let path = format!("/v1/games/{}", games[0]);
    let (status, detail) =
        documented_answer(&doc, "get", "/v1/games/{id}", http.get(url(&path))).await;
    assert_eq!(status, 200);
    assert_eq!(keys(&detail), documented_fields("GameDetail"));
    assert!(
        detail["seed"].as_str().unwrap().parse::<u64>().is_ok(),
        "{detail}"
    );
    let (status, events) = documented_answer(
        &doc,
        "get",
        "/v1/games/{id}/events",
        http.get(url(&format!("{path}/events"))),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(keys(&events), documented_fields("GameEvents"));
    assert_eq!(events["events"].as_array().unwrap().len(), 6);
    assert_eq!(
        keys(&events["events"][1]["action"]),
        documented_fields("ArchivedAction")
    );
    for missing in ["/v1/games/no-such-game", "/v1/games/no-such-game/events"] {
        let documented_path = missing.replace("no-such-game", "{id}");
        let (status, body) =
            documented_answer(&doc, "get", &documented_path, http.get(url(missing))).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (404, &"not_found".into()),
            "{missing}"
        );
    }

    // Readiness with the archive on: `database` and `archiver` among the checks.
    let (status, ready) =
        documented_answer(&doc, "get", "/health/ready", http.get(url("/health/ready"))).await;
    assert_eq!(status, 200);
    for check in ["registry", "database", "archiver"] {
        assert_eq!(ready["checks"][check]["status"], "up", "{ready}");
    }

    let response = http.get(url("/metrics")).send().await.unwrap();
    let content_type = response.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        !doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"][content_type.as_str()]
            .is_null(),
        "/metrics answers {content_type}"
    );
    let text = response.text().await.unwrap();
    assert!(text.contains("gamehall_archive_written_total 2"), "{text}");

    // Archiving off: the archive endpoints answer the documented 404.
    let off = crate::common::app()
        .env("USE_GAME_ARCHIVAL", "false")
        .spawn()
        .await;
    for (method, path, request) in [
        (
            "get",
            "/v1/games",
            http.get(format!("{}/v1/games", off.address)),
        ),
        (
            "get",
            "/v1/games/{id}",
            http.get(format!("{}/v1/games/{}", off.address, games[0])),
        ),
        (
            "post",
            "/admin/archive/flush",
            http.post(format!("{}/admin/archive/flush", off.address))
                .bearer_auth(ADMIN_TOKEN),
        ),
    ] {
        let (status, body) = documented_answer(&doc, method, path, request).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (404, &"not_found".into()),
            "{path}"
        );
    }
    let (status, _) = documented_answer(
        &doc,
        "get",
        "/health/ready",
        http.get(format!("{}/health/ready", off.address)),
    )
    .await;
    assert_eq!(status, 200);
}
