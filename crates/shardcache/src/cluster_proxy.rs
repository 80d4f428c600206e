//! `shardcache proxy --cluster HOST:PORT`: the cluster-aware proxy (`proxy::cluster`).

use std::process::ExitCode;
use std::sync::Arc;

use crate::ProxyArgs;

pub fn run(args: ProxyArgs) -> ExitCode {
    let given: Vec<&str> = args
        .cluster
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    // rediss:// seeds: every node is reached over TLS (on the TLS ports the nodes announce
    // to TLS clients).
    let over_tls = given.iter().any(|s| s.starts_with("rediss://"));
    let seeds: Vec<String> = given
        .iter()
        .map(|s| {
            s.trim_start_matches("rediss://")
                .trim_start_matches("redis://")
                .to_string()
        })
        .collect();
    let tls_client = match (over_tls, &args.backend_tls_ca_cert_file) {
        (false, _) => None,
        (true, None) => {
            eprintln!("shardcache proxy: rediss:// nodes need --backend-tls-ca-cert-file");
            return ExitCode::from(2);
        }
        (true, Some(ca)) => {
            let identity = args
                .backend_tls_cert_file
                .as_deref()
                .zip(args.backend_tls_key_file.as_deref());
            match proxy::config::BackendTls::from_files(ca, identity) {
                Ok(t) => Some(t.0),
                Err(e) => {
                    eprintln!("shardcache proxy: backend TLS: {e}");
                    return ExitCode::from(2);
                }
            }
        }
    };
    if seeds.is_empty() {
        eprintln!("shardcache proxy: --cluster needs at least one host:port");
        return ExitCode::from(2);
    }
    let tls = match args.tls() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("shardcache proxy: TLS: {e}");
            return ExitCode::from(2);
        }
    };
    crate::init_logging(&args.loglevel);
    let runtime = crate::proxy_runtime(args.threads);
    let result: std::io::Result<()> = runtime.block_on(async move {
        let signals = crate::shutdown_signal()?;
        let mut options = upstream::cluster::Options::new(seeds);
        options.settings.password = args.cluster_password.clone();
        options.settings.username = args.cluster_user.clone();
        options.connections = args.cluster_connections.max(1);
        options.settings.tls = tls_client;
        let client = upstream::ClusterClient::connect(options)
            .await
            .map_err(|e| std::io::Error::other(format!("cannot reach the cluster: {e}")))?;
        // The COMMAND table, so commands route without a round trip from the start.
        if let Err(e) = client.key_table().await {
            tracing::warn!(error = %e, "no COMMAND table yet; commands are routed as they come");
        }
        let policy = proxy::cluster::Policy {
            hedge_after: (args.hedge_after_ms > 0)
                .then(|| std::time::Duration::from_millis(args.hedge_after_ms)),
            hedge_ratio: args.hedge_ratio.clamp(0.0, 1.0),
            read_quorum: args.read_quorum,
            write_quorum: args.write_quorum,
            write_quorum_timeout: std::time::Duration::from_millis(args.write_quorum_timeout_ms),
        };
        let users = proxy::users::Users::new(args.requirepass.as_deref(), &args.users)
            .map_err(|e| std::io::Error::other(format!("--user: {e}")))?;
        let front = proxy::cluster::ClusterFront::new(client, users, policy);
        let listener = tokio::net::TcpListener::bind(&args.listen).await?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        if args.admin_port != 0 {
            let admin =
                tokio::net::TcpListener::bind((args.admin_bind.as_str(), args.admin_port)).await?;
            let guard = adminhttp::Options {
                max_connections: args.admin_max_connections,
                allow_hosts: args.admin_allow_host.clone(),
                ..Default::default()
            };
            tokio::spawn(proxy::cluster::serve_admin(
                admin,
                front.clone(),
                guard,
                args.admin_token.clone(),
                stopped(stop_rx.clone()),
            ));
        }
        let clients = tokio::spawn(proxy::cluster::serve(
            Arc::clone(&front),
            listener,
            tls,
            stopped(stop_rx),
        ));
        signals.await;
        let _ = stop_tx.send(true);
        let _ = clients.await;
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shardcache proxy: {e}");
            ExitCode::FAILURE
        }
    }
}
