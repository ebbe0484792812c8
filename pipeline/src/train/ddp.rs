//! What the trainer does differently with several ranks (see [`amt_dist`] for the collectives):
//! starting every rank from rank 0's state, weighting losses by target tokens, and gathering
//! validation scores.

use amt_dist::Dist;
use amt_metrics::{TrackMetrics, Weighted};
use amt_model::checkpoint::TrainState;
use amt_model::optim::{Adam, Moments};
use tch::{Kind, Tensor};

use super::infer::TrackScore;

/// Target tokens (not padding) in a (B, L) label batch.
pub fn target_tokens(labels: &Tensor) -> f64 {
    labels
        .ne(amt_model::ymt3::PAD)
        .sum(Kind::Int64)
        .int64_value(&[]) as f64
}

/// Makes every rank start where rank 0 starts: its step, stream position and seed, its
/// weights, and its optimiser moments (rank 0 alone read the checkpoint, if any).
pub fn start_from_rank0(
    d: &Dist,
    params: &[(String, Tensor)],
    opt: &mut Adam,
    state: &mut TrainState,
    bucket_bytes: usize,
) -> anyhow::Result<()> {
    let head = Tensor::from_slice(&[
        state.step,
        state.stream_position as i64,
        state.seed as i64,
        opt.step,
    ]);
    d.broadcast(&head, 0)?;
    let head: Vec<i64> = Vec::try_from(&head)?;
    state.step = head[0];
    state.stream_position = head[1] as u64;
    state.seed = head[2] as u64;
    opt.step = head[3];
    let weights: Vec<Tensor> = params.iter().map(|(_, p)| p.shallow_clone()).collect();
    d.broadcast_tensors(&weights, bucket_bytes)?;
    // Which parameters have moments on rank 0 (a parameter that never had a gradient has none).
    let has: Vec<u8> = params
        .iter()
        .map(|(n, _)| u8::from(opt.state.contains_key(n)))
        .collect();
    let flags = Tensor::from_slice(&has);
    d.broadcast(&flags, 0)?;
    let has: Vec<u8> = Vec::try_from(&flags)?;
    let mut moments = Vec::new();
    for ((name, p), &h) in params.iter().zip(&has) {
        if h == 0 {
            opt.state.remove(name);
            continue;
        }
        let m = opt.state.entry(name.clone()).or_insert_with(|| Moments {
            exp_avg: p.zeros_like(),
            exp_avg_sq: p.zeros_like(),
        });
        moments.push(m.exp_avg.shallow_clone());
        moments.push(m.exp_avg_sq.shallow_clone());
    }
    d.broadcast_tensors(&moments, bucket_bytes)?;
    Ok(())
}

/// Every rank's validation scores (transcriptions are not sent: only rank 0's are kept).
pub fn gather_scores(d: &Dist, mine: &[TrackScore]) -> anyhow::Result<Vec<TrackScore>> {
    let parts = d.all_gather_bytes(&encode_scores(mine))?;
    let mut all = Vec::new();
    for (r, bytes) in parts.iter().enumerate() {
        if r == d.rank {
            all.extend(mine.iter().cloned());
        } else {
            all.extend(decode_scores(bytes).map_err(|e| {
                anyhow::anyhow!("rank {}: validation scores from rank {r}: {e}", d.rank)
            })?);
        }
    }
    Ok(all)
}

/// A score on the wire: floats as their bits, so NaN (an undefined metric) survives.
#[derive(serde::Serialize, serde::Deserialize)]
struct WireScore {
    set: usize,
    track: usize,
    loss_sum: u64,
    loss_n: u64,
    values: Vec<(String, u64)>,
    weighted: Vec<(String, u64, u64)>,
}

fn encode_scores(scores: &[TrackScore]) -> Vec<u8> {
    let wire: Vec<WireScore> = scores
        .iter()
        .map(|s| WireScore {
            set: s.set,
            track: s.track,
            loss_sum: s.loss_sum.to_bits(),
            loss_n: s.loss_n.to_bits(),
            values: s
                .metrics
                .values
                .iter()
                .map(|(k, v)| (k.clone(), v.to_bits()))
                .collect(),
            weighted: s
                .metrics
                .weighted
                .iter()
                .map(|(k, w)| (k.clone(), w.value.to_bits(), w.weight.to_bits()))
                .collect(),
        })
        .collect();
    serde_json::to_vec(&wire).expect("scores serialize")
}

fn decode_scores(bytes: &[u8]) -> Result<Vec<TrackScore>, serde_json::Error> {
    let wire: Vec<WireScore> = serde_json::from_slice(bytes)?;
    Ok(wire
        .into_iter()
        .map(|w| TrackScore {
            set: w.set,
            track: w.track,
            loss_sum: f64::from_bits(w.loss_sum),
            loss_n: f64::from_bits(w.loss_n),
            metrics: TrackMetrics {
                values: w
                    .values
                    .into_iter()
                    .map(|(k, v)| (k, f64::from_bits(v)))
                    .collect(),
                weighted: w
                    .weighted
                    .into_iter()
                    .map(|(k, v, wt)| {
                        (
                            k,
                            Weighted {
                                value: f64::from_bits(v),
                                weight: f64::from_bits(wt),
                            },
                        )
                    })
                    .collect(),
            },
            notes: Vec::new(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_survive_the_wire_including_nan() {
        let mut metrics = TrackMetrics::default();
        metrics.values.insert("onset_f".into(), 0.25);
        metrics.values.insert("drum_onset_f".into(), f64::NAN);
        metrics.weighted.insert(
            "micro_onset_p_piano".into(),
            Weighted {
                value: 0.5,
                weight: 3.0,
            },
        );
        let s = TrackScore {
            set: 1,
            track: 4,
            metrics,
            loss_sum: 1.5,
            loss_n: 3.0,
            notes: Vec::new(),
        };
        let back = decode_scores(&encode_scores(std::slice::from_ref(&s))).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!((back[0].set, back[0].track), (1, 4));
        assert_eq!(back[0].loss_sum, 1.5);
        assert!(back[0].metrics.values["drum_onset_f"].is_nan());
        assert_eq!(back[0].metrics.values["onset_f"], 0.25);
        assert_eq!(back[0].metrics.weighted, s.metrics.weighted);
    }
}
