//! Data-parallel training through libtorch's own distributed engine (c10d).
//!
//! - [`Launch`]: where this process sits, read from the variables torchrun (and `amt launch`)
//!   set: `RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`, `MASTER_PORT`.
//! - [`Dist`]: the rendezvous (a c10d TCPStore hosted by rank 0), a Gloo process group and the
//!   collectives the trainer needs; [`Dist::all_reduce_grads`] averages gradients in
//!   flattened buckets, each bucket's all-reduce running while the next one is packed.
//! - Failure: every rank keeps a heartbeat counter in the store. When a collective fails
//!   (a peer's socket closed, or the timeout passed), the error names the ranks whose
//!   heartbeat stopped, so a dead rank makes the others fail with its name instead of hanging.
//!
//! The C++ side is `shim/c10d.cpp`; [`ffi`] is the only module with `unsafe`.

mod ffi;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tch::{Kind, Tensor};

pub use ffi::has_gloo;

/// Default time a collective or the rendezvous may wait for a peer (`AMT_DDP_TIMEOUT`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Default gradient bucket size (PyTorch DDP's default).
pub const DEFAULT_BUCKET_BYTES: usize = 25 << 20;

const HEARTBEAT_EVERY: Duration = Duration::from_millis(300);
/// A rank whose heartbeat does not move for this long is reported lost.
const HEARTBEAT_GRACE: Duration = Duration::from_millis(1500);
/// Store key a failing rank leaves its error under, for the others to report.
const ABORT_KEY: &str = "amt/abort";

/// This process's place in a data-parallel job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub rank: usize,
    pub world: usize,
    pub local_rank: usize,
    pub master_addr: String,
    pub master_port: u16,
}

impl Launch {
    /// The job described by the environment, or `None` when `WORLD_SIZE` is not set.
    pub fn from_env() -> Result<Option<Launch>, String> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// As [`from_env`](Self::from_env), reading variables through `get`.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Option<Launch>, String> {
        let Some(world) = get("WORLD_SIZE") else {
            return Ok(None);
        };
        let num = |name: &str, v: &str| -> Result<usize, String> {
            v.trim()
                .parse::<usize>()
                .map_err(|_| format!("{name}={v:?} is not a whole number"))
        };
        let world = num("WORLD_SIZE", &world)?;
        if world == 0 {
            return Err("WORLD_SIZE=0: a job has at least one rank".into());
        }
        let rank = match get("RANK") {
            Some(v) => num("RANK", &v)?,
            None if world == 1 => 0,
            None => return Err(format!("WORLD_SIZE={world} but RANK is not set")),
        };
        if rank >= world {
            return Err(format!("RANK={rank} is not below WORLD_SIZE={world}"));
        }
        let local_rank = match get("LOCAL_RANK") {
            Some(v) => num("LOCAL_RANK", &v)?,
            None => rank,
        };
        let master_addr = get("MASTER_ADDR").unwrap_or_else(|| "127.0.0.1".into());
        let master_port = match get("MASTER_PORT") {
            Some(v) => v
                .trim()
                .parse::<u16>()
                .map_err(|_| format!("MASTER_PORT={v:?} is not a port number"))?,
            None if world == 1 => 29500,
            None => return Err(format!("WORLD_SIZE={world} but MASTER_PORT is not set")),
        };
        Ok(Some(Launch {
            rank,
            world,
            local_rank,
            master_addr,
            master_port,
        }))
    }
}

/// A failed collective or rendezvous, with the rank that saw it and the ranks found lost.
#[derive(Debug, Clone)]
pub struct DistError {
    pub rank: usize,
    pub op: String,
    /// Ranks whose heartbeat had stopped when the error was seen.
    pub lost: Vec<usize>,
    /// The message another rank left when it failed, with its rank.
    pub peer_error: Option<String>,
    pub detail: String,
}

impl std::fmt::Display for DistError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rank {}: {} failed: ", self.rank, self.op)?;
        if let Some(p) = &self.peer_error {
            write!(f, "{p}")?;
        } else if self.lost.is_empty() {
            write!(f, "no rank is known to have died (a peer may be stuck)")?;
        } else {
            let names: Vec<String> = self.lost.iter().map(|r| format!("rank {r}")).collect();
            let verb = if names.len() == 1 { "is" } else { "are" };
            write!(f, "{} {verb} lost", names.join(", "))?;
            if self.lost == [0] && self.rank != 0 {
                write!(f, " (the rendezvous store it hosts stopped answering)")?;
            }
        }
        write!(f, " [{}]", self.detail)
    }
}

impl std::error::Error for DistError {}

/// Heartbeat thread: bumps `amt/hb/<rank>` in the store until dropped.
struct Heartbeat {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn heartbeat_key(rank: usize) -> String {
    format!("amt/hb/{rank}")
}

/// One rank's handle on the job: store, process group, heartbeat.
pub struct Dist {
    pub rank: usize,
    pub world: usize,
    pub local_rank: usize,
    pub timeout: Duration,
    // Field order is drop order: the heartbeat stops before the group and stores go.
    _heartbeat: Heartbeat,
    group: ffi::Group,
    /// A second store client, for diagnosis and the rank-0 waits (never blocks the group).
    probe: ffi::Store,
    _store: ffi::Store,
}

impl Dist {
    /// Joins the job: rank 0 hosts the store, every rank connects, the Gloo group forms.
    pub fn init(launch: &Launch, timeout: Duration) -> Result<Dist, DistError> {
        let ms = timeout.as_millis().min(i64::MAX as u128) as i64;
        let fail = |op: &str, detail: String| DistError {
            rank: launch.rank,
            op: op.to_string(),
            lost: Vec::new(),
            peer_error: None,
            detail,
        };
        if !has_gloo() {
            return Err(fail(
                "creating the process group",
                "this amt was built without Gloo's headers; run scripts/bootstrap-libtorch.sh and rebuild".into(),
            ));
        }
        let store = ffi::Store::new(
            &launch.master_addr,
            launch.master_port,
            launch.rank == 0,
            launch.world,
            ms,
        )
        .map_err(|e| {
            fail(
                "the rendezvous",
                format!(
                    "store at {}:{}: {e}",
                    launch.master_addr, launch.master_port
                ),
            )
        })?;
        let iface = std::env::var("GLOO_SOCKET_IFNAME").unwrap_or_default();
        let group = ffi::Group::gloo(
            &store,
            launch.rank,
            launch.world,
            &launch.master_addr_for_gloo(),
            &iface,
            ms,
        )
        .map_err(|e| fail("creating the Gloo process group", e))?;
        let probe_timeout = 5_000.min(ms.max(1));
        let connect = || {
            ffi::Store::new(
                &launch.master_addr,
                launch.master_port,
                false,
                0,
                probe_timeout,
            )
            .map_err(|e| fail("connecting to the rendezvous store", e))
        };
        let probe = connect()?;
        let beat = connect()?;
        let stop = Arc::new(AtomicBool::new(false));
        let key = heartbeat_key(launch.rank);
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("amt-heartbeat-{}", launch.rank))
            .spawn(move || {
                while !stop2.load(Ordering::Relaxed) {
                    if beat.add(&key, 1).is_err() {
                        break;
                    }
                    std::thread::sleep(HEARTBEAT_EVERY);
                }
            })
            .map_err(|e| fail("starting the heartbeat", e.to_string()))?;
        Ok(Dist {
            rank: launch.rank,
            world: launch.world,
            local_rank: launch.local_rank,
            timeout,
            _heartbeat: Heartbeat {
                stop,
                thread: Some(thread),
            },
            group,
            probe,
            _store: store,
        })
    }

    /// The timeout from `AMT_DDP_TIMEOUT` (seconds), else [`DEFAULT_TIMEOUT`].
    pub fn timeout_from_env() -> Result<Duration, String> {
        match std::env::var("AMT_DDP_TIMEOUT") {
            Ok(v) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| *s > 0.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| format!("AMT_DDP_TIMEOUT={v:?}: expected seconds above 0")),
            Err(_) => Ok(DEFAULT_TIMEOUT),
        }
    }

    /// Ranks whose heartbeat does not move within [`HEARTBEAT_GRACE`]; rank 0 alone when the
    /// store (which rank 0 hosts) does not answer.
    fn lost_ranks(&self) -> Vec<usize> {
        let read = |r: usize| self.probe.add(&heartbeat_key(r), 0);
        let before: Result<Vec<i64>, String> = (0..self.world).map(read).collect();
        let Ok(before) = before else {
            return vec![0];
        };
        std::thread::sleep(HEARTBEAT_GRACE);
        let after: Result<Vec<i64>, String> = (0..self.world).map(read).collect();
        let Ok(after) = after else {
            return vec![0];
        };
        (0..self.world)
            .filter(|&r| r != self.rank && after[r] == before[r])
            .collect()
    }

    /// The error a peer left in the store before it stopped, if any.
    fn peer_error(&self) -> Option<String> {
        match self.probe.check(ABORT_KEY) {
            Ok(true) => self
                .probe
                .get(ABORT_KEY)
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned()),
            _ => None,
        }
    }

    fn error(&self, op: &str, detail: String) -> DistError {
        let peer_error = self.peer_error();
        let lost = if peer_error.is_some() {
            Vec::new()
        } else {
            self.lost_ranks()
        };
        DistError {
            rank: self.rank,
            op: op.to_string(),
            lost,
            peer_error,
            detail,
        }
    }

    /// Leaves this rank's error for the others to report (best effort), before exiting.
    pub fn announce_failure(&self, message: &str) {
        let text = format!("rank {} failed: {message}", self.rank);
        if !matches!(self.probe.check(ABORT_KEY), Ok(true)) {
            let _ = self.probe.set(ABORT_KEY, text.as_bytes());
        }
    }

    /// Sums `t` over all ranks, in place.
    pub fn all_reduce_sum(&self, t: &Tensor) -> Result<(), DistError> {
        self.group
            .all_reduce_start(t)
            .and_then(ffi::Work::wait)
            .map_err(|e| self.error("all_reduce", e))
    }

    /// Sums a few numbers over all ranks.
    pub fn sum_f64(&self, values: &[f64]) -> Result<Vec<f64>, DistError> {
        let t = Tensor::from_slice(values);
        self.all_reduce_sum(&t)?;
        Ok(Vec::<f64>::try_from(&t).expect("a float64 vector"))
    }

    /// Copies `t` from `root` to every rank, in place.
    pub fn broadcast(&self, t: &Tensor, root: usize) -> Result<(), DistError> {
        self.group
            .broadcast(t, root)
            .map_err(|e| self.error("broadcast", e))
    }

    pub fn barrier(&self) -> Result<(), DistError> {
        self.group.barrier().map_err(|e| self.error("barrier", e))
    }

    /// Every rank's `bytes`, in rank order (lengths may differ).
    pub fn all_gather_bytes(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, DistError> {
        let n = Tensor::from_slice(&[bytes.len() as i64]);
        let lens = Tensor::zeros([self.world as i64, 1], (Kind::Int64, tch::Device::Cpu));
        self.group
            .all_gather(&n, &lens)
            .map_err(|e| self.error("all_gather", e))?;
        let lens: Vec<i64> = Vec::try_from(&lens.view([-1])).expect("an int64 vector");
        let max = lens.iter().copied().max().unwrap_or(0).max(1);
        let mut padded = bytes.to_vec();
        padded.resize(max as usize, 0);
        let input = Tensor::from_slice(&padded);
        let out = Tensor::zeros([self.world as i64, max], (Kind::Uint8, tch::Device::Cpu));
        self.group
            .all_gather(&input, &out)
            .map_err(|e| self.error("all_gather", e))?;
        Ok((0..self.world)
            .map(|r| {
                let row: Vec<u8> = Vec::try_from(&out.get(r as i64)).expect("a uint8 row");
                row[..lens[r] as usize].to_vec()
            })
            .collect())
    }

    /// Publishes `value` under `key` for the other ranks ([`wait_for`](Self::wait_for)).
    pub fn publish(&self, key: &str, value: &[u8]) -> Result<(), DistError> {
        self.probe
            .set(key, value)
            .map_err(|e| self.error(&format!("publishing `{key}`"), e))
    }

    /// Waits, without a time limit, for `key` (rank 0 may spend hours building data), while
    /// rank 0 is alive; fails at once with rank 0's message if it gave up.
    pub fn wait_for(&self, key: &str) -> Result<Vec<u8>, DistError> {
        loop {
            match self.probe.check(key) {
                Ok(true) => {
                    return self
                        .probe
                        .get(key)
                        .map_err(|e| self.error(&format!("reading `{key}`"), e));
                }
                Ok(false) => {}
                Err(e) => {
                    return Err(DistError {
                        rank: self.rank,
                        op: format!("waiting for `{key}`"),
                        lost: vec![0],
                        peer_error: None,
                        detail: e,
                    });
                }
            }
            if let Some(p) = self.peer_error() {
                return Err(DistError {
                    rank: self.rank,
                    op: format!("waiting for `{key}`"),
                    lost: Vec::new(),
                    peer_error: Some(p),
                    detail: "the job stopped".into(),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Copies every tensor from rank 0, in flattened buckets of at most `bucket_bytes`.
    pub fn broadcast_tensors(
        &self,
        tensors: &[Tensor],
        bucket_bytes: usize,
    ) -> Result<(), DistError> {
        for bucket in buckets(tensors, bucket_bytes) {
            let parts: Vec<&Tensor> = bucket.iter().map(|&i| &tensors[i]).collect();
            let flat = flatten(&parts);
            self.broadcast(&flat, 0)?;
            tch::no_grad(|| unflatten(&flat, &parts));
        }
        Ok(())
    }

    /// Averages the gradients of `params` over all ranks: each bucket (at most `bucket_bytes`)
    /// is packed into one flat tensor and all-reduced while the next one is packed. Parameters
    /// without a gradient are skipped (all ranks run the same model, so they skip the same).
    pub fn all_reduce_grads(
        &self,
        params: &[(String, Tensor)],
        bucket_bytes: usize,
    ) -> Result<GradSyncStats, DistError> {
        let started = Instant::now();
        let grads: Vec<Tensor> = params
            .iter()
            .map(|(_, p)| p.grad())
            .filter(Tensor::defined)
            .collect();
        let mut pending = Vec::new();
        let mut bytes = 0usize;
        let plan = buckets(&grads, bucket_bytes);
        for bucket in &plan {
            let parts: Vec<&Tensor> = bucket.iter().map(|&i| &grads[i]).collect();
            let flat = flatten(&parts);
            bytes += flat.numel() * flat.kind().elt_size_in_bytes();
            let work = self
                .group
                .all_reduce_start(&flat)
                .map_err(|e| self.error("all_reduce (gradients)", e))?;
            pending.push((flat, work, parts));
        }
        let scale = 1.0 / self.world as f64;
        for (flat, work, parts) in pending {
            work.wait()
                .map_err(|e| self.error("all_reduce (gradients)", e))?;
            tch::no_grad(|| {
                let mean = flat * scale;
                unflatten(&mean, &parts);
            });
        }
        Ok(GradSyncStats {
            buckets: plan.len(),
            bytes,
            seconds: started.elapsed().as_secs_f64(),
            sent_during_backward: 0,
        })
    }
}

/// Gradient averaging overlapped with the backward pass: hooks on the parameters copy each
/// gradient into its bucket as the pass produces it, and a full bucket is all-reduced at once
/// (in bucket order on every rank) while the pass goes on. Buckets follow the order in which
/// an earlier pass delivered the gradients ([`GradOrderWatch`]). Only for one plain backward
/// pass per step (synchronised BatchNorm runs several: it uses [`Dist::all_reduce_grads`]).
pub struct OverlappedGrads {
    sync: ffi::GradSync,
    buckets: usize,
    bytes: usize,
}

/// Watches one backward pass for the order in which the gradients arrive, so that
/// [`Dist::overlap_grads`] can fill its buckets in that order.
pub struct GradOrderWatch {
    hooks: ffi::GradOrder,
    /// The index in `params` of each watched tensor (those that require a gradient).
    index: Vec<usize>,
}

impl GradOrderWatch {
    pub fn new(params: &[(String, Tensor)]) -> Result<GradOrderWatch, String> {
        let index: Vec<usize> = (0..params.len())
            .filter(|&i| params[i].1.requires_grad())
            .collect();
        let tensors: Vec<Tensor> = index.iter().map(|&i| params[i].1.shallow_clone()).collect();
        Ok(GradOrderWatch {
            hooks: ffi::GradOrder::watch(&tensors)?,
            index,
        })
    }

    /// The indices in `params` of the gradients delivered so far, in order.
    fn arrived(&self) -> Vec<usize> {
        self.hooks
            .seen()
            .into_iter()
            .map(|i| self.index[i])
            .collect()
    }
}

impl Dist {
    /// Hooks the parameters for [`OverlappedGrads`] after the pass `watched` saw. Rank 0
    /// decides for all (ranks may differ in which parameters got a gradient, a routed
    /// expert say): its parameters that have a gradient, in the order they arrived, then
    /// the others of them in reverse; buckets of at most `bucket_bytes` in that order.
    pub fn overlap_grads(
        &self,
        params: &[(String, Tensor)],
        watched: GradOrderWatch,
        bucket_bytes: usize,
    ) -> Result<OverlappedGrads, DistError> {
        let arrived = watched.arrived();
        drop(watched);
        let mut order: Vec<i64> = Vec::new();
        if self.rank == 0 {
            let mut taken = vec![false; params.len()];
            let with_grad = |i: usize| params[i].1.requires_grad() && params[i].1.grad().defined();
            for i in arrived.into_iter().chain((0..params.len()).rev()) {
                if !taken[i] && with_grad(i) {
                    taken[i] = true;
                    order.push(i as i64);
                }
            }
        }
        let n = Tensor::from_slice(&[order.len() as i64]);
        self.broadcast(&n, 0)?;
        let n = n.int64_value(&[0]) as usize;
        let list = if self.rank == 0 {
            Tensor::from_slice(&order)
        } else {
            Tensor::zeros([n as i64], (tch::Kind::Int64, tch::Device::Cpu))
        };
        self.broadcast(&list, 0)?;
        let order: Vec<i64> = Vec::<i64>::try_from(&list)
            .map_err(|e| self.error("broadcast (gradient order)", e.to_string()))?;
        let hooked: Vec<Tensor> = order
            .iter()
            .map(|&i| params[i as usize].1.shallow_clone())
            .collect();
        let plan = buckets(&hooked, bucket_bytes);
        let mut bucket_of = vec![0i64; hooked.len()];
        for (b, members) in plan.iter().enumerate() {
            for &i in members {
                bucket_of[i] = b as i64;
            }
        }
        let bytes = hooked
            .iter()
            .map(|t| t.numel() * t.kind().elt_size_in_bytes())
            .sum();
        let sync = self
            .group
            .grad_sync(&hooked, &bucket_of)
            .map_err(|e| self.error("hooking the gradients", e))?;
        Ok(OverlappedGrads {
            sync,
            buckets: plan.len(),
            bytes,
        })
    }

    /// Completes the gradient averaging of the backward pass just run (see
    /// [`OverlappedGrads`]): the time is what the step waits after the pass.
    pub fn finish_grads(&self, o: &OverlappedGrads) -> Result<GradSyncStats, DistError> {
        let started = Instant::now();
        let early = o
            .sync
            .finish(1.0 / self.world as f64)
            .map_err(|e| self.error("all_reduce (gradients)", e))?;
        Ok(GradSyncStats {
            buckets: o.buckets,
            bytes: o.bytes,
            seconds: started.elapsed().as_secs_f64(),
            sent_during_backward: early,
        })
    }
}

/// What one gradient synchronisation did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradSyncStats {
    pub buckets: usize,
    pub bytes: usize,
    pub seconds: f64,
    /// Buckets all-reduced while the backward pass still ran (overlapped; 0 otherwise).
    pub sent_during_backward: usize,
}

/// Groups tensor indices, in order, into buckets of at most `max_bytes` (a larger tensor gets
/// a bucket of its own), never mixing dtypes in one bucket.
pub fn buckets(tensors: &[Tensor], max_bytes: usize) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut size = 0usize;
    let mut kind = None;
    for (i, t) in tensors.iter().enumerate() {
        let b = t.numel() * t.kind().elt_size_in_bytes();
        let fits = kind == Some(t.kind()) && size + b <= max_bytes;
        if !current.is_empty() && !fits {
            out.push(std::mem::take(&mut current));
            size = 0;
        }
        kind = Some(t.kind());
        current.push(i);
        size += b;
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn flatten(parts: &[&Tensor]) -> Tensor {
    let views: Vec<Tensor> = parts.iter().map(|t| t.detach().reshape([-1])).collect();
    Tensor::cat(&views, 0)
}

/// Copies consecutive slices of `flat` back into `parts`.
fn unflatten(flat: &Tensor, parts: &[&Tensor]) {
    let mut offset = 0;
    for p in parts {
        let n = p.numel() as i64;
        let mut dst = p.shallow_clone();
        dst.copy_(&flat.narrow(0, offset, n).view_as(p));
        offset += n;
    }
}

impl Launch {
    /// The address Gloo binds to: the master address on loopback jobs; otherwise this
    /// machine's name (set `GLOO_SOCKET_IFNAME` to pick an interface instead).
    fn master_addr_for_gloo(&self) -> String {
        let loopback = self.master_addr == "localhost"
            || self
                .master_addr
                .parse::<std::net::IpAddr>()
                .is_ok_and(|a| a.is_loopback());
        if loopback {
            self.master_addr.clone()
        } else {
            std::env::var("HOSTNAME")
                .ok()
                .filter(|h| !h.is_empty())
                .or_else(|| {
                    std::fs::read_to_string("/etc/hostname")
                        .ok()
                        .map(|s| s.trim().to_string())
                })
                .unwrap_or_else(|| self.master_addr.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn launch_reads_torchrun_variables_and_names_bad_ones() {
        assert_eq!(Launch::from_vars(vars(&[])).unwrap(), None);
        let l = Launch::from_vars(vars(&[
            ("WORLD_SIZE", "4"),
            ("RANK", "3"),
            ("LOCAL_RANK", "1"),
            ("MASTER_ADDR", "10.0.0.1"),
            ("MASTER_PORT", "29501"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (l.rank, l.world, l.local_rank, l.master_port),
            (3, 4, 1, 29501)
        );
        assert_eq!(l.master_addr, "10.0.0.1");
        let e = Launch::from_vars(vars(&[("WORLD_SIZE", "2"), ("RANK", "2")])).unwrap_err();
        assert!(e.contains("RANK=2"), "{e}");
        let e = Launch::from_vars(vars(&[("WORLD_SIZE", "2"), ("RANK", "1")])).unwrap_err();
        assert!(e.contains("MASTER_PORT"), "{e}");
        let e = Launch::from_vars(vars(&[("WORLD_SIZE", "x")])).unwrap_err();
        assert!(e.contains("WORLD_SIZE"), "{e}");
    }

    #[test]
    fn buckets_respect_the_size_and_keep_order() {
        let t = |n: i64| Tensor::zeros([n], (Kind::Float, tch::Device::Cpu));
        let ts = vec![t(10), t(10), t(100), t(5), t(5)];
        // 40-byte buckets: [0, 1] (80 bytes would not fit: 40 + 40), so each alone.
        assert_eq!(
            buckets(&ts, 40),
            vec![vec![0], vec![1], vec![2], vec![3, 4]]
        );
        assert_eq!(buckets(&ts, 80), vec![vec![0, 1], vec![2], vec![3, 4]]);
        assert_eq!(buckets(&ts, 1 << 20), vec![vec![0, 1, 2, 3, 4]]);
        let mixed = vec![
            t(1),
            Tensor::zeros([1], (Kind::Int64, tch::Device::Cpu)),
            t(1),
        ];
        assert_eq!(buckets(&mixed, 1 << 20), vec![vec![0], vec![1], vec![2]]);
    }

    #[test]
    fn flatten_and_unflatten_round_trip() {
        let a = Tensor::from_slice(&[1f32, 2.0, 3.0, 4.0]).view([2, 2]);
        let b = Tensor::from_slice(&[5f32]);
        let flat = flatten(&[&a, &b]) * 2.0;
        unflatten(&flat, &[&a, &b]);
        assert_eq!(
            Vec::<f32>::try_from(&a.view([-1])).unwrap(),
            [2.0, 4.0, 6.0, 8.0]
        );
        assert_eq!(Vec::<f32>::try_from(&b).unwrap(), [10.0]);
    }
}
