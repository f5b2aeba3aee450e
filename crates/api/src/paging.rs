//! Paged lists: `page` (from 1) and `page_size` (default 20, at most 100) in, and the envelope
//! `{"count", "next", "previous", "results"}` out, with absolute `next`/`previous` links that
//! keep every other parameter of the request. Shared by every list route, so they page alike.

use axum::http::HeaderMap;
use fieldproof_domain::FieldErrors;
use serde::Serialize;

use crate::query::QueryParams;
use crate::AppState;

pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;

/// Which page a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// From 1.
    pub number: u64,
    pub size: u64,
}

impl Page {
    /// Reads `page` and `page_size`, adding a message to `errors` for each bad one. `items` names
    /// what is listed, for the message on a page size over the cap ("work orders", "events").
    pub fn parse(params: &QueryParams, items: &str, errors: &mut FieldErrors) -> Page {
        let mut positive = |key: &str, default: u64| -> u64 {
            match params.last(key) {
                None => default,
                Some(raw) => match raw.parse::<u64>() {
                    Ok(n) if n >= 1 => n,
                    _ => {
                        errors.add(key, "A positive whole number is required.");
                        default
                    }
                },
            }
        };
        let number = positive("page", 1);
        let size = positive("page_size", DEFAULT_PAGE_SIZE);
        if size > MAX_PAGE_SIZE {
            errors.add(
                "page_size",
                format!("At most {MAX_PAGE_SIZE} {items} per page."),
            );
        }
        Page { number, size }
    }

    /// How many items come before this page.
    pub fn offset(&self) -> u64 {
        (self.number - 1).saturating_mul(self.size)
    }
}

/// The envelope of one page of `count` items. `path` is the request's path; the links are built
/// from the configured public URL, else the request's `Host`.
pub fn envelope<T: Serialize>(
    state: &AppState,
    headers: &HeaderMap,
    path: &str,
    params: &QueryParams,
    page: Page,
    count: u64,
    results: Vec<T>,
) -> Envelope<T> {
    let base = format!("{}{path}", crate::work_orders::base_url(state, headers));
    let link = |p: u64| -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params.pairs().iter().filter(|(k, _)| k != "page") {
            q.append_pair(k, v);
        }
        q.append_pair("page", &p.to_string());
        format!("{base}?{}", q.finish())
    };
    let next = (page.offset() + (results.len() as u64) < count).then(|| link(page.number + 1));
    let previous = (page.number > 1).then(|| link(page.number - 1));
    Envelope {
        count,
        next,
        previous,
        results,
    }
}

/// A page of a list: `count` over all pages, links to the pages around it, and its results.
#[derive(Serialize)]
pub struct Envelope<T> {
    pub count: u64,
    pub next: Option<String>,
    pub previous: Option<String>,
    pub results: Vec<T>,
}
