//! Passage vectors for hybrid retrieval, when the config names an `embedding_model`: kept in
//! `vectors.bin` beside the index, one per passage, reused by the passage's sha256 (a passage
//! that did not change is never embedded again), searched by cosine similarity, and fused
//! with BM25 by reciprocal rank.

use std::collections::HashMap;
use std::path::Path;

const MAGIC: &[u8; 4] = b"CHV1";

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub path: String,
    pub start: u64,
    pub end: u64,
    pub sha256: String,
    pub text: String,
    pub vector: Vec<f32>,
}

/// The vectors of a collection, for one model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vectors {
    pub model: String,
    pub entries: Vec<Entry>,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

impl Vectors {
    /// The stored vectors (empty when there are none, or they cannot be read: they are
    /// made again).
    pub fn load(path: &Path) -> Vectors {
        let Ok(bytes) = std::fs::read(path) else {
            return Vectors::default();
        };
        Self::parse(&bytes).unwrap_or_default()
    }

    fn parse(bytes: &[u8]) -> Option<Vectors> {
        let mut r = Reader(bytes);
        if r.take(4)? != MAGIC {
            return None;
        }
        let model = r.str()?;
        let n = r.u32()? as usize;
        let mut entries = Vec::with_capacity(n.min(1 << 20));
        for _ in 0..n {
            let path = r.str()?;
            let start = r.u64()?;
            let end = r.u64()?;
            let sha256 = r.str()?;
            let text = r.str()?;
            let dim = r.u32()? as usize;
            let raw = r.take(dim * 4)?;
            let vector = raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            entries.push(Entry {
                path,
                start,
                end,
                sha256,
                text,
                vector,
            });
        }
        Some(Vectors { model, entries })
    }

    /// Writes them atomically.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let mut out = MAGIC.to_vec();
        put_str(&mut out, &self.model);
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for e in &self.entries {
            put_str(&mut out, &e.path);
            out.extend_from_slice(&e.start.to_le_bytes());
            out.extend_from_slice(&e.end.to_le_bytes());
            put_str(&mut out, &e.sha256);
            put_str(&mut out, &e.text);
            out.extend_from_slice(&(e.vector.len() as u32).to_le_bytes());
            for f in &e.vector {
                out.extend_from_slice(&f.to_le_bytes());
            }
        }
        crate::util::write_atomic(path, &out).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Vectors already made, by passage sha256.
    pub fn by_sha(&self) -> HashMap<&str, &Vec<f32>> {
        self.entries
            .iter()
            .map(|e| (e.sha256.as_str(), &e.vector))
            .collect()
    }

    /// The `k` passages nearest to `q` (cosine similarity), best first.
    pub fn nearest(&self, q: &[f32], k: usize) -> Vec<(&Entry, f32)> {
        let qn = norm(q);
        let mut scored: Vec<(&Entry, f32)> = self
            .entries
            .iter()
            .filter(|e| e.vector.len() == q.len())
            .map(|e| {
                let dot: f32 = e.vector.iter().zip(q).map(|(a, b)| a * b).sum();
                (e, dot / (norm(&e.vector) * qn).max(f32::MIN_POSITIVE))
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        scored.truncate(k);
        scored
    }
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

/// Reciprocal-rank fusion of ranked lists of keys (k = 60): the fused order and scores.
pub fn fuse(lists: &[Vec<String>]) -> Vec<(String, f64)> {
    let mut score: HashMap<&str, f64> = HashMap::new();
    for list in lists {
        for (rank, key) in list.iter().enumerate() {
            *score.entry(key).or_default() += 1.0 / (60.0 + rank as f64 + 1.0);
        }
    }
    let mut out: Vec<(String, f64)> = score.into_iter().map(|(k, s)| (k.to_string(), s)).collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_and_rank_by_cosine() {
        let e = |p: &str, v: Vec<f32>| Entry {
            path: p.into(),
            start: 1,
            end: 2,
            sha256: format!("sha-{p}"),
            text: format!("text {p}"),
            vector: v,
        };
        let v = Vectors {
            model: "m".into(),
            entries: vec![
                e("a", vec![1.0, 0.0]),
                e("b", vec![0.6, 0.8]),
                e("c", vec![0.0, 1.0]),
            ],
        };
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("vectors.bin");
        v.save(&p).expect("save");
        assert_eq!(Vectors::load(&p), v);
        std::fs::write(&p, b"garbage").expect("w");
        assert_eq!(
            Vectors::load(&p),
            Vectors::default(),
            "unreadable: made again"
        );
        let near = v.nearest(&[0.0, 2.0], 2);
        assert_eq!(near[0].0.path, "c");
        assert_eq!(near[1].0.path, "b");
    }

    #[test]
    fn fusion_rewards_agreement() {
        let a = vec!["x".to_string(), "y".into(), "z".into()];
        let b = vec!["y".to_string(), "w".into()];
        let f = fuse(&[a, b]);
        assert_eq!(f[0].0, "y", "{f:?}");
        assert_eq!(f.len(), 4);
    }
}
