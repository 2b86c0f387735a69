//! The status page (`/`) and its data (`/status.json`), served beside `/metrics`.
//!
//! The page is one static HTML file with its CSS and script inline (`status.html`, built into
//! the binary): no external assets, nothing to build. Its script polls `/status.json` every two
//! seconds and draws the tables and charts; the document is [`super::status`]'s.

use std::borrow::Cow;

use crate::cluster::ClusterState;

/// A response for the HTTP server to write.
pub(super) struct Page {
    /// Content-Type.
    pub content_type: &'static str,
    /// More header lines, each ending in CRLF.
    pub headers: &'static str,
    /// The body.
    pub body: Cow<'static, str>,
}

/// The page, as shipped.
const PAGE: &str = include_str!("status.html");

/// What the page may load: only itself and `/status.json` (inline script and style).
const PAGE_HEADERS: &str = "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; \
style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'\r\n\
Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n";

/// Whether this module answers `path`.
pub(super) fn is_page(path: &[u8]) -> bool {
    matches!(path, b"/" | b"/index.html" | b"/status.json")
}

/// The answer to `GET path` for one of [`is_page`]'s paths.
pub(super) fn answer(path: &[u8], state: &ClusterState) -> Page {
    if path == b"/status.json" {
        return Page {
            content_type: "application/json",
            headers: "Cache-Control: no-store\r\n",
            body: Cow::Owned(super::status::render_json(state)),
        };
    }
    Page {
        content_type: "text/html; charset=utf-8",
        headers: PAGE_HEADERS,
        body: Cow::Borrowed(PAGE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_self_contained() {
        assert!(PAGE.starts_with("<!DOCTYPE html>"));
        // No external assets: nothing is loaded from another origin.
        for needle in ["http://", "https://", "src=\"//", "href=\"//"] {
            assert!(!PAGE.contains(needle), "the page refers to {needle}");
        }
        assert!(PAGE.contains("/status.json"));
        assert!(is_page(b"/") && is_page(b"/status.json") && !is_page(b"/metrics"));
    }
}
