//! Reading the embedded local log: every partition, from the committed
//! positions, waking up when a writer publishes new durable records.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use revstream_ingest::log::local::LocalLog;
use tokio::sync::watch;

use super::{LogSource, SourceBatch, SourceError, SourceRecord};

#[derive(Debug)]
pub struct LocalSource {
    log: Arc<LocalLog>,
    positions: Vec<u64>,
    watermarks: Vec<watch::Receiver<u64>>,
    /// One process owns the whole local log; reported on the first call.
    announced: bool,
}

impl LocalSource {
    pub fn new(log: Arc<LocalLog>) -> Result<Self, SourceError> {
        let n = log.partitions();
        let watermarks = (0..n)
            .map(|p| log.subscribe(p).map_err(|e| SourceError(e.to_string())))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            positions: vec![0; n as usize],
            log,
            watermarks,
            announced: false,
        })
    }

    async fn read_available(&mut self, max: usize) -> Result<Vec<SourceRecord>, SourceError> {
        let mut out = Vec::new();
        for p in 0..self.positions.len() {
            let remaining = max.saturating_sub(out.len());
            if remaining == 0 {
                break;
            }
            let partition = p as u32;
            let records = self
                .log
                .read(partition, self.positions[p], remaining)
                .await
                .map_err(|e| SourceError(e.to_string()))?;
            if let Some(last) = records.last() {
                self.positions[p] = last.offset + 1;
            }
            out.extend(records.into_iter().map(|r| SourceRecord {
                partition,
                offset: r.offset,
                payload: r.payload,
            }));
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl LogSource for LocalSource {
    fn log_id(&self) -> String {
        "local".to_owned()
    }

    fn partition_count(&self) -> u32 {
        self.positions.len() as u32
    }

    fn seek(&mut self, partitions: &[u32], positions: &HashMap<u32, i64>) {
        for &p in partitions {
            if let Some(pos) = self.positions.get_mut(p as usize) {
                *pos = positions
                    .get(&p)
                    .map_or(0, |&o| u64::try_from(o).unwrap_or(0));
            }
        }
    }

    /// The high watermark (the next offset to be written) minus the next
    /// offset to read; nothing before the pipeline has positioned us.
    fn lag(&self) -> Vec<(u32, u64)> {
        if !self.announced {
            return Vec::new();
        }
        self.watermarks
            .iter()
            .zip(&self.positions)
            .enumerate()
            .map(|(p, (end, &next))| (p as u32, end.borrow().saturating_sub(next)))
            .collect()
    }

    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<SourceBatch, SourceError> {
        if !self.announced {
            // Nothing is read before the pipeline has positioned us.
            self.announced = true;
            return Ok(SourceBatch {
                assigned: (0..self.partition_count()).collect(),
                ..SourceBatch::default()
            });
        }
        for w in &mut self.watermarks {
            w.mark_unchanged();
        }
        let mut records = self.read_available(max).await?;
        if records.is_empty() && !self.watermarks.is_empty() {
            // Nothing yet: sleep until any partition publishes, or the wait ends.
            let changes = self.watermarks.iter_mut().map(|w| Box::pin(w.changed()));
            let _ = tokio::time::timeout(wait, futures::future::select_all(changes)).await;
            records = self.read_available(max).await?;
        }
        Ok(SourceBatch {
            records,
            ..SourceBatch::default()
        })
    }
}
