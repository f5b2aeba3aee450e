//! Rate limits: a burst over a key's limit gets 429 with `Retry-After`, while another key (of
//! another site) is served normally at the same time; failed authentications are throttled per
//! client address.

use fieldproof_api::limits::{Rate, RateLimits};
use fieldproof_api::ApiConfig;
use reqwest::Method;

use crate::helpers::*;

#[tokio::test]
async fn a_noisy_key_gets_429_and_another_key_is_served() {
    let app = spawn_app_with(ApiConfig {
        rate_limits: RateLimits {
            per_key: Some(Rate {
                per_second: 5.0,
                burst: 20.0,
            }),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let (_, other) = app.add_site("quiet").await;
    let mut throttled = 0;
    let mut retry_after = None;
    let mut body = serde_json::Value::Null;
    for i in 0..60 {
        let r = app.call(Method::GET, "/v0.2/work-orders/", None).await;
        if r.status == 429 {
            throttled += 1;
            retry_after = r
                .headers
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            body = r.body;
        } else {
            assert_eq!(r.status, 200);
        }
        // Meanwhile the other site's key, within its own limit, is served normally.
        if i % 4 == 0 {
            assert_eq!(
                app.call_as(&other, Method::GET, "/v0.2/work-orders/", None)
                    .await
                    .status,
                200
            );
        }
    }
    assert!(throttled >= 30, "only {throttled} of 60 were throttled");
    let secs: u64 = retry_after.expect("Retry-After on a 429").parse().unwrap();
    assert!((1..=2).contains(&secs), "{secs}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("Request was throttled."),
        "{body}"
    );
    // After waiting, the key is served again.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        app.call(Method::GET, "/v0.2/work-orders/", None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn failed_authentications_are_throttled_per_address() {
    let app = spawn_app_with(ApiConfig {
        rate_limits: RateLimits {
            failed_auth_per_address: Some(Rate {
                per_second: 0.5,
                burst: 5.0,
            }),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        statuses.push(
            app.call_as(
                &format!("fpk_guess{i}"),
                Method::GET,
                "/v0.2/work-orders/",
                None,
            )
            .await
            .status,
        );
    }
    assert_eq!(&statuses[..5], &[401; 5]);
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    let r = app
        .call_as("fpk_guess-again", Method::GET, "/v0.2/work-orders/", None)
        .await;
    assert_eq!(r.status, 429);
    assert!(r.headers.get("retry-after").is_some());
    // A valid key from the same address is still served: guessing costs the guesser only.
    assert_eq!(
        app.call(Method::GET, "/v0.2/work-orders/", None)
            .await
            .status,
        200
    );
}
