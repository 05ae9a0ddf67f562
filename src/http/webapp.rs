//! The browser pages: the web client at `/` and the admin page at `/admin`, with their scripts
//! and styles under `/assets/`. The files live in `web/` in the repository and are compiled into
//! the binary, so `gamehall serve` needs nothing on disk to serve them.
//!
//! Every answer carries a strict Content-Security-Policy: scripts and styles come only from this
//! server (no inline script, no `eval`), and the pages may talk only to this server (HTTP and
//! its WebSocket). File names carry no content hash, so browsers keep a copy but revalidate it
//! each time (`no-cache` with an `ETag`): a new build is picked up on the next load, and an
//! unchanged file costs a `304` without a body.

use std::hash::{Hash, Hasher};
use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Compress;
use actix_web::{web, HttpRequest, HttpResponse};

/// What the pages may load and talk to. `connect-src 'self'` covers the same-origin WebSocket
/// (`ws:`/`wss:` to this host and port) in browsers that implement CSP level 3.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; manifest-src 'self'; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One file of the web client, as compiled in.
pub struct Asset {
    /// The path under `web/`.
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $path)),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file under `web/`; a test checks that none is missing from this list.
pub static ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("admin.html", HTML),
    asset!("style.css", CSS),
    asset!("icon.svg", "image/svg+xml"),
    asset!("js/api.js", JS),
    asset!("js/app.js", JS),
    asset!("js/admin.js", JS),
    asset!("js/connection.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/lobby.js", JS),
    asset!("js/room.js", JS),
    asset!("js/store.js", JS),
    asset!("js/games/crazy_eights.js", JS),
    asset!("js/games/index.js", JS),
    asset!("js/games/snake.js", JS),
    asset!("js/games/tictactoe.js", JS),
];

/// An asset with its validator, computed once.
struct Served {
    asset: &'static Asset,
    etag: String,
}

static SERVED: LazyLock<Vec<Served>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            // Any hash that changes with the content will do: the ETag only has to differ
            // between builds whose files differ.
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            asset.body.hash(&mut hasher);
            Served {
                asset,
                etag: format!("\"{:016x}-{:x}\"", hasher.finish(), asset.body.len()),
            }
        })
        .collect()
});

fn find(path: &str) -> Option<&'static Served> {
    SERVED.iter().find(|served| served.asset.path == path)
}

/// The file's answer: `304` when the browser's copy is current, the file otherwise.
fn respond(req: &HttpRequest, served: &Served) -> HttpResponse {
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| tag.trim() == served.etag || tag.trim() == "*")
        });
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, served.etag.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"));
    if fresh {
        response.finish()
    } else {
        response
            .content_type(served.asset.content_type)
            .body(served.asset.body)
    }
}

fn page(req: &HttpRequest, path: &str) -> HttpResponse {
    match find(path) {
        Some(served) => respond(req, served),
        // Only reachable if ASSETS lost a page, which the tests rule out.
        None => HttpResponse::NotFound().finish(),
    }
}

async fn client_page(req: HttpRequest) -> HttpResponse {
    page(&req, "index.html")
}

async fn admin_page(req: HttpRequest) -> HttpResponse {
    page(&req, "admin.html")
}

async fn asset(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    match find(&path) {
        // The pages themselves are served at `/` and `/admin` only, so that each has one
        // address.
        Some(served) if !served.asset.path.ends_with(".html") => respond(&req, served),
        _ => HttpResponse::NotFound().finish(),
    }
}

/// `/`, `/admin` and `/assets/{path}`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(client_page))
        .route("/admin", web::get().to(admin_page))
        .service(
            web::scope("/assets")
                .wrap(Compress::default())
                .route("/{path:.+}", web::get().to(asset)),
        );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn files_under(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("web/ is readable") {
            let entry = entry.expect("a directory entry");
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.path().is_dir() {
                files_under(&entry.path(), &format!("{name}/"), out);
            } else {
                out.push(name);
            }
        }
    }

    #[test]
    fn every_file_under_web_is_served_with_a_matching_content_type() {
        let mut on_disk = Vec::new();
        files_under(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("web"),
            "",
            &mut on_disk,
        );
        on_disk.sort();
        let mut served: Vec<String> = ASSETS.iter().map(|a| a.path.to_owned()).collect();
        served.sort();
        assert_eq!(served, on_disk, "ASSETS and web/ differ");
        for asset in ASSETS {
            let expected = match asset.path.rsplit_once('.').map(|(_, ext)| ext) {
                Some("html") => HTML,
                Some("js") => JS,
                Some("css") => CSS,
                Some("svg") => "image/svg+xml",
                other => panic!("no content type known for {other:?}"),
            };
            assert_eq!(asset.content_type, expected, "{}", asset.path);
        }
    }

    #[test]
    fn pages_load_no_inline_script_or_style() {
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".html")) {
            let text = std::str::from_utf8(asset.body).expect("pages are UTF-8");
            for script in text.split("<script").skip(1) {
                let tag = script.split('>').next().unwrap_or_default();
                assert!(tag.contains("src="), "{}: inline <script>", asset.path);
            }
            assert!(!text.contains("<style"), "{}: inline <style>", asset.path);
            assert!(!text.contains(" style="), "{}: style attribute", asset.path);
            // Event handler attributes (`onclick=` and the like) are inline script too.
            let handler = text.split(" on").skip(1).any(|rest| {
                let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
                !name.is_empty() && rest[name.len()..].starts_with('=')
            });
            assert!(!handler, "{}: inline event handler", asset.path);
        }
    }

    #[test]
    fn etags_differ_between_files() {
        let mut tags: Vec<&str> = SERVED.iter().map(|s| s.etag.as_str()).collect();
        tags.sort();
        tags.dedup();
        assert_eq!(tags.len(), ASSETS.len());
    }
}
