//! Paged lists: `page` (from 1) and `page_size` (default 20, at most 100) in, and the envelope
//! `{"count", "next", "previous", "results"}` out, with absolute `next`/`previous` links that
//! keep every other parameter of the request. Shared by every list route, so they page alike.

use axum::http::HeaderMap;
use fieldproof_domain::FieldErrors;
use serde_json::{json, Value};

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
pub fn envelope(
    state: &AppState,
    headers: &HeaderMap,
    path: &str,
    params: &QueryParams,
    page: Page,
    count: u64,
    results: Vec<Value>,
) -> Value {
    let base = format!("{}{path}", crate::work_orders::base_url(state, headers));
    let link = |p: u64| -> Value {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params.pairs().iter().filter(|(k, _)| k != "page") {
            q.append_pair(k, v);
        }
        q.append_pair("page", &p.to_string());
        json!(format!("{base}?{}", q.finish()))
    };
    let next = if page.offset() + (results.len() as u64) < count {
        link(page.number + 1)
    } else {
        Value::Null
    };
    let previous = if page.number > 1 {
        link(page.number - 1)
    } else {
        Value::Null
    };
    json!({"count": count, "next": next, "previous": previous, "results": results})
}
