//! Replicas at work for plain clients: hedged reads (a read that has not answered after
//! `hedge_after` is also sent to a replica; the first good answer wins), quorum reads (the
//! primary and a replica together; the primary's answer, divergence counted), and write
//! quorums (a write followed by WAIT on the same connection).

use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use upstream::cluster::encode;

use super::conn::reply_bytes;
use super::ClusterFront;

impl ClusterFront {
    /// Whether one more read may be hedged within the budget (`hedge_ratio` of reads).
    fn hedge_allowed(&self) -> bool {
        let reads = self.stats.reads.load(Ordering::Relaxed) as f64;
        let hedged = self.stats.hedged.load(Ordering::Relaxed) as f64;
        hedged < reads * self.policy.hedge_ratio
    }

    /// Whether reads of a replicated slot go through [`Self::read`].
    pub(crate) fn uses_replicas_for_reads(&self) -> bool {
        self.policy.hedge_after.is_some() || self.policy.read_quorum >= 2
    }

    /// A read-only command for `slot`, whose shard has a replica.
    pub(crate) async fn read(&self, slot: u16, payload: Bytes) -> Vec<u8> {
        self.stats.reads.fetch_add(1, Ordering::Relaxed);
        let client = &self.client;
        if self.policy.read_quorum >= 2 {
            self.stats.quorum_reads.fetch_add(1, Ordering::Relaxed);
            let (primary, replica) = tokio::join!(
                client.call_slot(Some(slot), payload.clone(), 1),
                client.call_replica(slot, payload)
            );
            if let (Ok(p), Ok(r)) = (&primary, &replica) {
                if p != r {
                    self.stats.divergent.fetch_add(1, Ordering::Relaxed);
                }
            }
            return reply_bytes(primary);
        }
        let primary = client.call_slot(Some(slot), payload.clone(), 1);
        tokio::pin!(primary);
        let Some(after) = self.policy.hedge_after else {
            return reply_bytes(primary.await);
        };
        tokio::select! {
            r = &mut primary => return reply_bytes(r),
            _ = tokio::time::sleep(after) => {}
        }
        if !self.hedge_allowed() {
            return reply_bytes(primary.await);
        }
        self.stats.hedged.fetch_add(1, Ordering::Relaxed);
        let replica = client.call_replica(slot, payload);
        tokio::pin!(replica);
        tokio::select! {
            r = &mut primary => reply_bytes(r),
            r = &mut replica => match r {
                // Only a real answer wins (an error such as LOADING does not).
                Ok(b) if b.first() != Some(&b'-') => {
                    self.stats.hedge_wins.fetch_add(1, Ordering::Relaxed);
                    b.to_vec()
                }
                _ => reply_bytes(primary.await),
            },
        }
    }

    /// A write for `slot`, then WAIT for `write_quorum - 1` replicas on the same connection.
    pub(crate) async fn write(&self, slot: u16, payload: Bytes) -> Vec<u8> {
        let need = i64::from(self.policy.write_quorum.saturating_sub(1));
        let timeout = self.policy.write_quorum_timeout.as_millis().to_string();
        let mut both = BytesMut::from(&payload[..]);
        both.extend_from_slice(&encode(&[
            b"WAIT",
            need.to_string().as_bytes(),
            timeout.as_bytes(),
        ]));
        let replies = match self.client.call_slot(Some(slot), both.freeze(), 2).await {
            Ok(b) => b,
            Err(e) => return reply_bytes(Err(e)),
        };
        let Ok(Some(first)) = resp::frame::frame_len(&replies) else {
            return b"-ERR the cluster sent an invalid reply\r\n".to_vec();
        };
        let (write, wait) = replies.split_at(first);
        let acked = std::str::from_utf8(wait)
            .ok()
            .and_then(|w| w.strip_prefix(':')?.trim_end().parse::<i64>().ok())
            .unwrap_or(0);
        if write.first() != Some(&b'-') && acked < need {
            self.stats
                .write_quorum_failures
                .fetch_add(1, Ordering::Relaxed);
            return format!(
                "-NOREPLICAS Not enough good replicas to write: {acked} of {need} acknowledged within {timeout} ms (the primary applied it)\r\n"
            )
            .into_bytes();
        }
        write.to_vec()
    }
}
