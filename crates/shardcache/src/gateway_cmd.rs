//! `shardcache gateway`: the HTTP caching gateway (`gateway` crate), with the seed's
//! environment variables (`CACHE_SHARD_URLS`, `VIRTUAL_NODES`, `CACHE_DEFAULT_TTL`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

#[derive(Args)]
pub struct GatewayArgs {
    /// Address to serve HTTP on.
    #[arg(long, env = "GATEWAY_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// The HTTP API behind the gateway: http://host:port.
    #[arg(long, env = "UPSTREAM_URL")]
    upstream: String,
    /// Cache in this Shard-Cache cluster (or Redis Cluster): seed nodes, host:port, comma
    /// separated.
    #[arg(long, env = "CACHE_CLUSTER", conflicts_with = "shards")]
    cluster: Option<String>,
    /// Cache on these Redis servers instead, placed on a consistent-hash ring:
    /// redis://[:password@]host[:port][/db], comma separated.
    #[arg(long, env = "CACHE_SHARD_URLS")]
    shards: Option<String>,
    /// The CA that signs the certificates of `rediss://` shards (PEM).
    #[arg(long, env = "CACHE_TLS_CA_CERT_FILE")]
    backend_tls_ca_cert_file: Option<PathBuf>,
    /// Points per server on the ring (with --shards).
    #[arg(long, env = "VIRTUAL_NODES", default_value_t = 150)]
    virtual_nodes: u32,
    /// Seconds a response without max-age/s-maxage stays fresh; 0 = not stored.
    #[arg(long, env = "CACHE_DEFAULT_TTL", default_value_t = 300)]
    default_ttl: u64,
    /// Route rules (TOML: [[route]] prefix, ttl, bypass, key_headers, stale_while_revalidate,
    /// stale_if_error).
    #[arg(long, env = "GATEWAY_CONFIG")]
    config: Option<PathBuf>,
    /// Larger response bodies are streamed through and not stored (bytes, or 8mb, ...).
    #[arg(long, default_value = "8mb", value_parser = crate::memory)]
    max_object_size: u64,
    /// Milliseconds the upstream has for its response headers, and again for its body.
    #[arg(long, default_value_t = 30_000)]
    upstream_timeout_ms: u64,
    /// Token that opens POST /api/cache/clear from anywhere (else only from loopback).
    #[arg(long, env = "GATEWAY_ADMIN_TOKEN")]
    admin_token: Option<String>,
    /// Requests in flight at once; more get 503 with Retry-After (0 = no bound).
    #[arg(long, env = "GATEWAY_MAX_CONCURRENT_REQUESTS", default_value_t = 0)]
    max_concurrent_requests: usize,
    /// 503 while the process used more than this share of all cores (0.0-1.0) over
    /// --cpu-shed-window (0 = off).
    #[arg(long, default_value_t = 0.0)]
    cpu_shed_threshold: f64,
    #[arg(long, default_value = "10s", value_parser = crate::duration_ms)]
    cpu_shed_window: u64,
    /// A near cache in this process (bytes, or 64mb, ...; 0 = none): hot entries are served
    /// without a round trip to the store, at most --local-cache-ttl-ms old (a purge or an
    /// invalidation through another gateway reaches this one after that time).
    #[arg(long, env = "GATEWAY_LOCAL_CACHE_SIZE", default_value = "0", value_parser = crate::memory)]
    local_cache_size: u64,
    #[arg(long, env = "GATEWAY_LOCAL_CACHE_TTL_MS", default_value_t = 1000)]
    local_cache_ttl_ms: u64,
    /// Admin HTTP port: /health (is the cache store answering?) and /metrics; 0 = off.
    #[arg(long, env = "GATEWAY_ADMIN_PORT", default_value_t = 0)]
    admin_port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    admin_bind: String,
    /// Password for the cache's nodes (with --cluster).
    #[arg(long, env = "CACHE_CLUSTER_PASSWORD")]
    cluster_password: Option<String>,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    #[arg(long, default_value = "notice")]
    loglevel: String,
}

pub fn run(args: GatewayArgs) -> ExitCode {
    let fail = |e: String| {
        eprintln!("shardcache gateway: {e}");
        ExitCode::from(2)
    };
    let upstream = args.upstream.trim_end_matches('/').to_string();
    let valid_upstream = upstream
        .strip_prefix("http://")
        .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'));
    if !valid_upstream {
        return fail(format!(
            "--upstream must be http://host:port (no path, no https): '{}'",
            args.upstream
        ));
    }
    let routes = match &args.config {
        None => gateway::config::Routes::default(),
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| gateway::config::Routes::parse(&t))
        {
            Ok(r) => r,
            Err(e) => return fail(format!("{}: {e}", path.display())),
        },
    };
    if args.cluster.is_none() && args.shards.is_none() {
        return fail("give --cluster HOST:PORT or --shards (CACHE_SHARD_URLS)".into());
    }
    crate::init_logging(&args.loglevel);
    let runtime = {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if args.threads > 0 {
            b.worker_threads(args.threads);
        }
        b.enable_all().build().expect("start tokio runtime")
    };
    let result: Result<(), String> = runtime.block_on(async move {
        let signals = crate::shutdown_signal().map_err(|e| e.to_string())?;
        let store = match (&args.cluster, &args.shards) {
            (Some(seeds), _) => {
                let over_tls = seeds.split(',').any(|s| s.trim().starts_with("rediss://"));
                let seeds = seeds
                    .split(',')
                    .map(|s| {
                        s.trim()
                            .trim_start_matches("rediss://")
                            .trim_start_matches("redis://")
                            .to_string()
                    })
                    .filter(|s| !s.is_empty())
                    .collect();
                let mut options = upstream::cluster::Options::new(seeds);
                options.settings.password = args.cluster_password.clone();
                if over_tls {
                    let ca = args
                        .backend_tls_ca_cert_file
                        .as_ref()
                        .ok_or("rediss:// nodes need --backend-tls-ca-cert-file")?;
                    options.settings.tls = Some(
                        proxy::config::BackendTls::from_files(ca, None)
                            .map_err(|e| format!("cluster TLS: {e}"))?
                            .0,
                    );
                }
                let client = upstream::ClusterClient::connect(options)
                    .await
                    .map_err(|e| format!("cannot reach the cluster: {e}"))?;
                gateway::Store::Cluster(client)
            }
            (None, Some(urls)) => {
                let mut pool =
                    proxy::config::from_urls(&args.listen, urls, args.virtual_nodes, None)
                        .map_err(|e| e.to_string())?;
                let tls = match &args.backend_tls_ca_cert_file {
                    None => None,
                    Some(ca) => Some(
                        proxy::config::BackendTls::from_files(ca, None)
                            .map_err(|e| format!("shard TLS: {e}"))?,
                    ),
                };
                proxy::config::apply_backend_tls(std::slice::from_mut(&mut pool), tls)?;
                gateway::Store::Ring(proxy::Pool::start(pool))
            }
            (None, None) => unreachable!("checked above"),
        };
        let mut options = gateway::Options::new(upstream);
        options.default_ttl = args.default_ttl;
        options.routes = routes;
        options.max_object_bytes = usize::try_from(args.max_object_size).unwrap_or(usize::MAX);
        options.upstream_timeout = Duration::from_millis(args.upstream_timeout_ms.max(1));
        options.admin_token = args.admin_token.clone().filter(|t| !t.is_empty());
        options.max_concurrent = args.max_concurrent_requests;
        options.cpu_shed_threshold = args.cpu_shed_threshold.clamp(0.0, 1.0);
        options.cpu_shed_window = Duration::from_millis(args.cpu_shed_window);
        options.local_cache_bytes = usize::try_from(args.local_cache_size).unwrap_or(usize::MAX);
        options.local_cache_ttl = Duration::from_millis(args.local_cache_ttl_ms);
        let gw = gateway::Gateway::new(store, options);
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        if args.admin_port != 0 {
            let admin = tokio::net::TcpListener::bind((args.admin_bind.as_str(), args.admin_port))
                .await
                .map_err(|e| format!("cannot listen on the admin port: {e}"))?;
            tokio::spawn(gateway::serve_admin(
                gw.clone(),
                admin,
                adminhttp::Options::default(),
                stopped(stop_rx.clone()),
            ));
        }
        tokio::spawn(async move {
            signals.await;
            let _ = stop_tx.send(true);
        });
        gateway::serve(gw, listener, stopped(stop_rx))
            .await
            .map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shardcache gateway: {e}");
            ExitCode::FAILURE
        }
    }
}
