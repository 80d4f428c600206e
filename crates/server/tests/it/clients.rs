//! Real client libraries against the node: the `redis` crate (sync and async, pipelines).

use redis::AsyncCommands;

use crate::support::Node;

#[tokio::test]
async fn redis_crate_async_commands_and_pipeline() {
    let node = Node::start().await;
    let client = redis::Client::open(format!("redis://{}/", node.addr)).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = con.set("name", "shard-cache").await.unwrap();
    let name: String = con.get("name").await.unwrap();
    assert_eq!(name, "shard-cache");
    let n: i64 = con.incr("counter", 5).await.unwrap();
    assert_eq!(n, 5);
    let _: () = con.set_ex("session", "x", 100).await.unwrap();
    let ttl: i64 = con.ttl("session").await.unwrap();
    assert!((99..=100).contains(&ttl));
    let missing: Option<String> = con.get("missing").await.unwrap();
    assert_eq!(missing, None);
    let (a, b): (i64, Vec<Option<String>>) = redis::pipe()
        .incr("counter", 1)
        .cmd("MGET")
        .arg("name")
        .arg("nope")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(a, 6);
    assert_eq!(b, vec![Some("shard-cache".to_string()), None]);
    let deleted: i64 = con.del(&["name", "counter", "missing"]).await.unwrap();
    assert_eq!(deleted, 2);
    let err = con.incr::<_, _, i64>("session", 1).await.unwrap_err();
    assert!(err.to_string().contains("not an integer"), "{err}");
}

#[tokio::test]
async fn redis_crate_many_concurrent_connections() {
    let node = Node::start().await;
    let client = redis::Client::open(format!("redis://{}/", node.addr)).unwrap();
    let mut tasks = Vec::new();
    for t in 0..20 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut con = client.get_multiplexed_async_connection().await.unwrap();
            for i in 0..200 {
                let _: () = con.set(format!("t{t}:{i}"), i).await.unwrap();
                let _: i64 = con.incr("shared", 1).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let total: i64 = con.get("shared").await.unwrap();
    assert_eq!(
        total,
        20 * 200,
        "INCR must be atomic across connections and cores"
    );
    let size: i64 = redis::cmd("DBSIZE").query_async(&mut con).await.unwrap();
    assert_eq!(size, 20 * 200 + 1);
}

#[test]
fn redis_crate_sync_client_with_resp3() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let node = rt.block_on(Node::start());
    let client = redis::Client::open(format!("redis://{}/?protocol=resp3", node.addr)).unwrap();
    let mut con = client.get_connection().unwrap();
    redis::cmd("SET").arg("k").arg("v").exec(&mut con).unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    assert_eq!(v, "v");
    let info: redis::InfoDict = redis::cmd("INFO").query(&mut con).unwrap();
    assert_eq!(info.get::<String>("role").as_deref(), Some("master"));
    drop(con);
    rt.block_on(node.stop()).unwrap();
}
