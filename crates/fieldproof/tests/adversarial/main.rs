//! Adversarial API tests: the real server over real HTTP (the `spawn_app()` harness of the API
//! tests), attacked on purpose.
//!
//! - `corpus`: hundreds of malformed requests, generated over the route table where possible;
//!   each must get a 4xx with a JSON body, the server must stay healthy and nothing may be left
//!   half-written.
//! - `isolation`: every route with every verb, called with each site's key on the other sites'
//!   objects; nothing of another site may ever show.
//!
//! Both print their figures, also when they pass (see [`report!`]).

/// Prints a line of figures past the test harness's output capture (which holds back what
/// `println!` prints in a passing test), so that the CI log shows them on every run.
macro_rules! report {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

mod corpus;
mod fixtures;
mod isolation;
mod raw;
