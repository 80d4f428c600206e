//! The gRPC front door (`--grpc-port`): `cache.CacheService` from `proto/cache.proto`, the
//! standard `grpc.health.v1.Health` (for Kubernetes gRPC probes and grpcurl), and server
//! reflection (so `grpcurl list` and `describe` work without the .proto file).
//!
//! The service is a client of the cluster like any other ([`upstream::ClusterClient`]): a
//! call for a key another node owns goes there over the nodes' client ports, following
//! MOVED/ASK/TRYAGAIN, so the gRPC client never sees a redirect and needs no topology. It
//! lives in its own crate because it brings tonic and prost; the node does not know it.

mod incoming;
mod service;
pub mod status;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::{Request, Status};
use upstream::cluster::Options as ClusterOptions;

pub use service::Stats;

/// The generated messages and services of `package cache`.
pub mod pb {
    tonic::include_proto!("cache");
}

/// The encoded descriptors of `proto/cache.proto` (with its imports), for reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/cache_descriptor.bin"));

#[derive(Debug, Clone)]
pub struct Options {
    /// This node's client address (`host:port`): the first node asked, and the one Health
    /// describes.
    pub local: String,
    /// The node's password: the service connects with it, and callers must present it as
    /// `authorization: Bearer <password>` metadata (health and reflection stay open).
    pub password: Option<String>,
    /// Largest request or response message (gRPC's default is 4 MiB).
    pub max_message_bytes: usize,
    /// Requests in flight at once; more are refused with RESOURCE_EXHAUSTED (0 = no bound).
    pub max_concurrent: usize,
    /// Refuse requests while the process uses more than this share of all cores over
    /// `cpu_shed_window` (0 = never).
    pub cpu_shed_threshold: f64,
    pub cpu_shed_window: Duration,
    /// Pipelined connections to each node.
    pub connections: usize,
    /// TLS on the gRPC port (`--grpc-tls`): the node's certificate, client certificates as
    /// its `tls-auth-clients` says, ALPN `h2`.
    pub tls: Option<Arc<tls::Acceptor>>,
    /// TLS towards the nodes' client ports (a TLS-only node: `--port 0 --tls-port`).
    pub node_tls: Option<Arc<tls::rustls::ClientConfig>>,
}

impl Options {
    pub fn new(local: String) -> Options {
        Options {
            local,
            password: None,
            max_message_bytes: 16 * 1024 * 1024,
            max_concurrent: 0,
            cpu_shed_threshold: 0.0,
            cpu_shed_window: Duration::from_secs(10),
            connections: 2,
            tls: None,
            node_tls: None,
        }
    }
}

/// Checks `authorization: Bearer <password>` in constant time.
fn authorizer(
    password: Option<String>,
) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone {
    move |req: Request<()>| {
        let Some(expected) = &password else {
            return Ok(req);
        };
        let given = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let same = given.len() == expected.len()
            && given
                .bytes()
                .zip(expected.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if same {
            Ok(req)
        } else {
            Err(Status::unauthenticated(
                "this node needs its password as 'authorization: Bearer <password>' metadata",
            ))
        }
    }
}

/// tonic answers OUT_OF_RANGE for a message over the size limit; the gRPC status code
/// table says RESOURCE_EXHAUSTED ("a message larger than the configured maximum"), which
/// is what grpc-core servers send and what clients expect. The status of a refused request
/// travels in the response headers (trailers-only), where this rewrites it.
fn oversized_is_resource_exhausted<B>(mut response: http::Response<B>) -> http::Response<B> {
    let headers = response.headers_mut();
    let oversized = headers.get("grpc-status").is_some_and(|v| v == "11")
        && headers
            .get("grpc-message")
            .and_then(|m| m.to_str().ok())
            .is_some_and(|m| {
                m.contains("message%20length%20too%20large")
                    || m.contains("message length too large")
            });
    if oversized {
        headers.insert("grpc-status", http::HeaderValue::from_static("8"));
    }
    response
}

/// Serves gRPC on `listener` until `shutdown` completes (requests in flight finish).
pub async fn serve(
    listener: TcpListener,
    options: Options,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    serve_with_stats(listener, options, Arc::new(Stats::default()), shutdown).await
}

/// [`serve`], counting into `stats` (the binary shows them in the node's `/metrics`).
pub async fn serve_with_stats(
    listener: TcpListener,
    options: Options,
    stats: Arc<Stats>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    let mut cluster = ClusterOptions::new(vec![options.local.clone()]);
    cluster.settings.password = options.password.clone();
    cluster.connections = options.connections.max(1);
    cluster.settings.tls = options.node_tls.clone();
    let client = upstream::ClusterClient::new(cluster);
    let cache = Arc::new(service::Cache {
        cluster: client.clone(),
        local: options.local.clone(),
        shedder: shed::Shedder::new(
            shed::Door::Grpc,
            options.max_concurrent,
            options.cpu_shed_threshold,
            options.cpu_shed_window,
        ),
        stats,
    });
    let (reporter, health_service) = tonic_health::server::health_reporter();
    // Learn the map, then keep the standard health service in step with the node.
    let watched = cache.clone();
    let watcher = tokio::spawn(async move {
        let _ = watched.cluster.refresh(None).await;
        loop {
            let serving = watched.health().await.is_ok_and(|h| h.status == "SERVING");
            let status = if serving {
                tonic_health::ServingStatus::Serving
            } else {
                tonic_health::ServingStatus::NotServing
            };
            reporter.set_service_status("", status).await;
            reporter
                .set_service_status("cache.CacheService", status)
                .await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| e.to_string())?;
    let reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(|e| e.to_string())?;
    let cache_service = pb::cache_service_server::CacheServiceServer::new(service::Service(cache))
        .max_decoding_message_size(options.max_message_bytes)
        .max_encoding_message_size(options.max_message_bytes);
    let cache_service = tonic::service::interceptor::InterceptedService::new(
        cache_service,
        authorizer(options.password.clone()),
    );
    tracing::info!(addr = ?listener.local_addr().ok(), "gRPC listening");
    let incoming = incoming::connections(listener, options.tls.clone());
    let result = tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .layer(tower::util::MapResponseLayer::new(
            oversized_is_resource_exhausted,
        ))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_alpha)
        .add_service(cache_service)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| e.to_string());
    watcher.abort();
    result
}
