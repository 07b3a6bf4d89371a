//! The passes over the body, with the HMAC state shared as far as the bytes allow.
//!
//! Layouts differ only in a short prefix before the body (`""`, `{ts}.`, `{id}.{ts}.`,
//! `v0:{ts}:`; Stripe's `{t}.` is the same bytes as `{ts}.`), so each distinct (key, prefix)
//! pair is keyed and fed its prefix once ([`Bases`]); every pass clones that state and feeds
//! the body once. The newline variants are finished from clones taken at the right offset, and
//! a restyled body is fed to all the (key, prefix) states chunk by chunk as it is written
//! ([`Feed`]). One MAC is compared with every candidate signature, whatever its header,
//! encoding or prefix.

use std::sync::atomic::{AtomicUsize, Ordering};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::json_style::Sink;
use super::Candidate;

pub(super) type HmacSha = Hmac<Sha256>;

/// An HMAC-SHA256 output.
pub(super) type Mac32 = [u8; 32];

fn finish(m: HmacSha) -> Mac32 {
    m.finalize().into_bytes().into()
}

/// The distinct prefixes of `prefixes` and, for each input, the index of its distinct one.
pub(super) fn distinct<'a>(
    prefixes: impl Iterator<Item = &'a [u8]>,
) -> (Vec<&'a [u8]>, Vec<usize>) {
    let mut unique: Vec<&[u8]> = Vec::new();
    let index = prefixes
        .map(|p| match unique.iter().position(|u| *u == p) {
            Some(i) => i,
            None => {
                unique.push(p);
                unique.len() - 1
            }
        })
        .collect();
    (unique, index)
}

/// One keyed state per (key, distinct prefix), the prefix already absorbed; index
/// `key * prefixes + prefix`.
pub(super) struct Bases {
    states: Vec<HmacSha>,
    prefixes: usize,
}

impl Bases {
    pub(super) fn new<'k>(keys: impl Iterator<Item = &'k [u8]>, prefixes: &[&[u8]]) -> Self {
        let mut states = Vec::new();
        for key in keys {
            let keyed = <HmacSha as Mac>::new_from_slice(key).expect("HMAC takes any key length");
            for p in prefixes {
                let mut m = keyed.clone();
                m.update(p);
                states.push(m);
            }
        }
        Bases {
            states,
            prefixes: prefixes.len(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.states.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// Index of (key, distinct prefix).
    pub(super) fn at(&self, key: usize, prefix: usize) -> usize {
        key * self.prefixes + prefix
    }

    pub(super) fn state(&self, i: usize) -> &HmacSha {
        &self.states[i]
    }

    /// A feed for a body variant into a copy of every state.
    pub(super) fn feed<'b>(&self, body: &'b [u8]) -> Feed<'b> {
        Feed {
            states: self.states.clone(),
            body,
            same: 0,
            diverged: false,
        }
    }
}

/// The MACs of one pass: the body without its final newline (when it has one), with one more
/// `\n`, and as captured.
pub(super) struct NewlineMacs {
    pub(super) stripped: Option<Mac32>,
    pub(super) added: Mac32,
    pub(super) exact: Mac32,
}

impl NewlineMacs {
    pub(super) fn count(&self) -> usize {
        2 + usize::from(self.stripped.is_some())
    }
}

/// One pass over `body` from `base`, finishing the exact body and both newline variants.
pub(super) fn pass_with_newlines(base: &HmacSha, body: &[u8]) -> NewlineMacs {
    let mut m = base.clone();
    let cut = if body.ends_with(b"\r\n") {
        Some(body.len() - 2)
    } else if body.ends_with(b"\n") {
        Some(body.len() - 1)
    } else {
        None
    };
    let stripped = cut.map(|cut| {
        m.update(&body[..cut]);
        let stripped = finish(m.clone());
        m.update(&body[cut..]);
        stripped
    });
    if cut.is_none() {
        m.update(body);
    }
    let mut plus = m.clone();
    plus.update(b"\n");
    NewlineMacs {
        stripped,
        added: finish(plus),
        exact: finish(m),
    }
}

/// Feeds a body variant, as it is written, into every (key, prefix) state. While the variant
/// equals the captured body nothing is hashed (a style that changes nothing costs no MAC); at
/// the first difference the identical head is fed from the captured body, not copied.
pub(super) struct Feed<'b> {
    states: Vec<HmacSha>,
    body: &'b [u8],
    same: usize,
    diverged: bool,
}

impl Feed<'_> {
    fn update_all(&mut self, bytes: &[u8]) {
        for s in &mut self.states {
            s.update(bytes);
        }
    }

    fn diverge(&mut self) {
        self.diverged = true;
        let body = self.body;
        self.update_all(&body[..self.same]);
    }

    /// The MACs in [`Bases`] order, or `None` when the variant is the captured body itself.
    pub(super) fn finish(mut self) -> Option<Vec<Mac32>> {
        if !self.diverged {
            if self.same == self.body.len() {
                return None;
            }
            // A strict prefix of the body.
            self.diverge();
        }
        Some(self.states.into_iter().map(finish).collect())
    }
}

impl Sink for Feed<'_> {
    fn put(&mut self, bytes: &[u8]) {
        if !self.diverged {
            let rest = &self.body[self.same..];
            if rest.starts_with(bytes) {
                self.same += bytes.len();
                return;
            }
            self.diverge();
        }
        self.update_all(bytes);
    }
}

/// Indices of the candidates equal to `mac`, in candidate order.
pub(super) fn compare(mac: &[u8], cands: &[Candidate], out: &mut Vec<usize>) {
    use subtle::ConstantTimeEq;
    for (i, c) in cands.iter().enumerate() {
        if c.bytes.len() == mac.len() && bool::from(c.bytes.as_slice().ct_eq(mac)) {
            out.push(i);
        }
    }
}

/// `f` over `jobs` on up to `available_parallelism` threads (at most 8), each thread taking the
/// next job when it is done (jobs differ in cost: a sorted restyle parses the body); results in
/// job order.
pub(super) fn parallel<J: Sync, R: Send>(jobs: &[J], f: impl Fn(&J) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
        .min(jobs.len());
    if threads <= 1 {
        return jobs.iter().map(&f).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(job) = jobs.get(i) else { break };
            done.push((i, f(job)));
        }
        done
    };
    let mut done: Vec<(usize, R)> = std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mut done = work();
        for h in helpers {
            match h.join() {
                Ok(d) => done.extend(d),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        done
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(key: &[u8], parts: &[&[u8]]) -> Mac32 {
        let mut m = <HmacSha as Mac>::new_from_slice(key).unwrap();
        for p in parts {
            m.update(p);
        }
        finish(m)
    }

    const KEYS: [&[u8]; 2] = [b"first key", b"a second, longer key"];
    const PREFIXES: [&[u8]; 3] = [b"", b"1764000000.", b"evt_1.1764000000."];

    #[test]
    fn a_feed_gives_the_macs_of_the_variant_hashed_whole() {
        let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let bases = Bases::new(KEYS.into_iter(), &PREFIXES);
        let mut early = body.clone();
        early[0] ^= 1;
        let mut late = body.clone();
        late[70_000] ^= 1;
        let mut longer = body.clone();
        longer.extend_from_slice(b"tail");
        let variants = [early, late, body[..50_000].to_vec(), longer];
        for (vi, variant) in variants.iter().enumerate() {
            for chunk in [32 * 1024, 4096, 7] {
                let mut feed = bases.feed(&body);
                for c in variant.chunks(chunk) {
                    feed.put(c);
                }
                let macs = feed.finish().expect("the variant differs from the body");
                for (ki, key) in KEYS.iter().enumerate() {
                    for (pi, prefix) in PREFIXES.iter().enumerate() {
                        assert_eq!(
                            macs[bases.at(ki, pi)],
                            direct(key, &[prefix, variant]),
                            "variant {vi}, chunk {chunk}, key {ki}, prefix {pi}"
                        );
                    }
                }
            }
        }
        let mut same = bases.feed(&body);
        for c in body.chunks(4096) {
            same.put(c);
        }
        assert!(same.finish().is_none(), "the body itself costs no MAC");
    }

    #[test]
    fn one_pass_finishes_the_newline_variants() {
        let bases = Bases::new(KEYS.into_iter(), &PREFIXES);
        for body in [&b"{\"a\":1}"[..], b"{\"a\":1}\n", b"{\"a\":1}\r\n", b""] {
            for (ki, key) in KEYS.iter().enumerate() {
                for (pi, prefix) in PREFIXES.iter().enumerate() {
                    let m = pass_with_newlines(bases.state(bases.at(ki, pi)), body);
                    assert_eq!(m.exact, direct(key, &[prefix, body]));
                    assert_eq!(m.added, direct(key, &[prefix, body, b"\n"]));
                    let cut = body
                        .strip_suffix(b"\r\n")
                        .or_else(|| body.strip_suffix(b"\n"));
                    assert_eq!(m.stripped, cut.map(|c| direct(key, &[prefix, c])));
                }
            }
        }
    }

    #[test]
    fn parallel_keeps_job_order() {
        let jobs: Vec<u64> = (0..40).collect();
        let out = parallel(&jobs, |&j| {
            // Uneven costs, so threads finish out of order.
            std::thread::sleep(std::time::Duration::from_micros((40 - j) * 50));
            j * 2
        });
        assert_eq!(out, jobs.iter().map(|j| j * 2).collect::<Vec<_>>());
    }
}
