//! A gRPC load client for `bench/grpc_vs_targets.py`: N concurrent callers over a few HTTP/2
//! channels for a fixed time; prints one JSON line with throughput and latency percentiles
//! (microseconds, measured per call on the client).
//!
//! `cargo run --release -p grpc --example grpc_load -- ADDR OP CONCURRENCY SECONDS [KEYS] [VALUE_BYTES]`
//! with OP = get | set.

use std::time::{Duration, Instant};

use grpc::pb::cache_service_client::CacheServiceClient;
use grpc::pb::{GetRequest, SetRequest};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:10000".into());
    let op = args.get(2).cloned().unwrap_or_else(|| "get".into());
    let concurrency: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(32);
    let seconds: u64 = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(5);
    let keys: usize = args.get(5).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let value_bytes: usize = args.get(6).and_then(|a| a.parse().ok()).unwrap_or(32);
    // A few channels (HTTP/2 connections), callers spread over them.
    let mut channels = Vec::new();
    for _ in 0..4 {
        let c = tonic::transport::Endpoint::from_shared(addr.clone())
            .expect("an address")
            .tcp_nodelay(true)
            .connect()
            .await
            .expect("connect");
        channels.push(CacheServiceClient::new(c));
    }
    let value = vec![b'x'; value_bytes];
    if op == "get" {
        // Load the keys first so gets hit.
        let mut c = channels[0].clone();
        for i in 0..keys {
            c.set(SetRequest {
                key: format!("key:{i}"),
                value: value.clone(),
                ..Default::default()
            })
            .await
            .expect("set");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let mut client = channels[t % channels.len()].clone();
        let (op, value) = (op.clone(), value.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut i = t;
            while Instant::now() < deadline {
                let key = format!("key:{}", i % keys);
                i += concurrency;
                let started = Instant::now();
                let ok = if op == "get" {
                    client.get(GetRequest { key }).await.is_ok()
                } else {
                    client
                        .set(SetRequest {
                            key,
                            value: value.clone(),
                            ..Default::default()
                        })
                        .await
                        .is_ok()
                };
                lat.push(started.elapsed().as_micros() as u32);
                if !ok {
                    errors += 1;
                }
            }
            (lat, errors)
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("a caller");
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{{\"op\":\"{op}\",\"calls\":{},\"errors\":{errors},\"ops_per_sec\":{:.0},\"p50_us\":{},\"p99_us\":{},\"p999_us\":{}}}",
        all.len(),
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        pct(0.999)
    );
}
