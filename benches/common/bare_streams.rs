//! The bare Redis Streams consumer the inbox benches measure `RedisInbox` against (shared by
//! `inbox_redis.rs` and `inbox_worker.rs`), and the clean-up of a bench run's keys.

use redis::aio::ConnectionManager;
use tokio::task::JoinSet;

/// Create consumer group `g` on `stream` (and the stream).
pub async fn create_group(raw: &ConnectionManager, stream: &str) {
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg("g")
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut raw.clone())
        .await
        .unwrap();
}

/// Drain `stream` with `leasers` consumers of group `g`: `XREADGROUP COUNT batch`, then one
/// pipelined `XACK` per message, until nothing is left. Returns how many were handled.
pub async fn consume(raw: &ConnectionManager, stream: &str, leasers: usize, batch: usize) -> usize {
    let mut set = JoinSet::new();
    for w in 0..leasers {
        let (mut c, s) = (raw.clone(), stream.to_owned());
        set.spawn(async move {
            let mut handled = 0usize;
            loop {
                type Reply = Option<Vec<(String, Vec<(String, Vec<Vec<u8>>)>)>>;
                let reply: Reply = redis::cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg("g")
                    .arg(format!("c{w}"))
                    .arg("COUNT")
                    .arg(batch)
                    .arg("STREAMS")
                    .arg(&s)
                    .arg(">")
                    .query_async(&mut c)
                    .await
                    .unwrap();
                let ids: Vec<String> = reply
                    .unwrap_or_default()
                    .into_iter()
                    .flat_map(|(_, msgs)| msgs.into_iter().map(|(id, _)| id))
                    .collect();
                if ids.is_empty() {
                    return handled;
                }
                let mut pipe = redis::pipe();
                for id in &ids {
                    pipe.cmd("XACK").arg(&s).arg("g").arg(id).ignore();
                }
                let _: () = pipe.query_async(&mut c).await.unwrap();
                handled += ids.len();
            }
        });
    }
    set.join_all().await.into_iter().sum()
}

/// Delete every key under `prefix`.
pub async fn cleanup(raw: &ConnectionManager, prefix: &str) {
    let mut c = raw.clone();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut c)
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: () = redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(&mut c)
                .await
                .unwrap();
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
}
