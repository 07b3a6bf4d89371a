//! Per-delivery spans that cost nothing when nothing can see them.
//!
//! tracing's `log` feature (actix-web's dependencies turn it on in every build with the `actix`
//! feature) keeps a span that no subscriber enabled alive for the `log` crate: each enter, exit
//! and `record` then looks its field up by name, builds a value set and asks `log` whether to
//! print it (542 instructions per fresh delivery through `Receiver`, BENCHMARKS.md). When no
//! subscriber enabled the span and `log` would print nothing either (no tracing dispatcher may
//! forward it, or `log`'s level is off), [`Span::none`] behaves the same for every observer and
//! makes those calls free.

use tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
use tracing::{Level, Span};

/// The span `make` builds at `level`, or [`Span::none`] when neither a tracing subscriber nor a
/// `log` logger can observe it: tracing forwards a disabled span to `log` only while no
/// dispatcher has been set, and `log` drops every record while its maximum level is off.
///
/// When no subscriber enables anything at `level` (tracing's global maximum, the check its
/// macros start with), `make` is not even called: tracing would build a disabled span and,
/// with its `log` feature, still hand every field to `log`.
pub(crate) fn observed(level: Level, make: impl FnOnce() -> Span) -> Span {
    let seen_by_log =
        || !tracing::dispatcher::has_been_set() && log::max_level() != log::LevelFilter::Off;
    let enabled_somewhere = level <= STATIC_MAX_LEVEL && level <= LevelFilter::current();
    if !enabled_somewhere && !seen_by_log() {
        return Span::none();
    }
    let span = make();
    if span.is_disabled() && !seen_by_log() {
        Span::none()
    } else {
        span
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::sync::Mutex;

    /// tracing's maximum level is global, the maximum over every live subscriber, scoped ones
    /// included: these tests install subscribers one at a time.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

    fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
        ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
    }

    // Each test builds its spans at its own callsites: a callsite caches the interest of the
    // subscribers alive when it was first hit, so sharing one across tests would carry one
    // test's subscriber into the next.

    #[test]
    fn a_span_a_subscriber_enabled_is_kept() {
        let _one = one_at_a_time();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = observed(Level::INFO, || tracing::info_span!("webhook"));
            assert!(!span.is_disabled());
        });
    }

    #[test]
    fn a_span_nothing_can_see_becomes_none() {
        let _one = one_at_a_time();
        // No dispatcher here, and this test binary installs no `log` logger.
        let span = observed(Level::INFO, || tracing::info_span!("webhook"));
        assert!(span.is_none());
        // A subscriber that filters the span out: disabled, and `log` is not asked.
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_writer(std::io::sink)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            assert!(observed(Level::INFO, || tracing::info_span!("webhook")).is_none());
        });
    }

    #[test]
    fn a_span_above_every_maximum_level_is_not_built() {
        let _one = one_at_a_time();
        let built = Cell::new(0);
        let make = || {
            built.set(built.get() + 1);
            tracing::info_span!("webhook")
        };
        // Installing a subscriber recomputes the maximum: WARN, the only one alive.
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_writer(std::io::sink)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            assert!(observed(Level::INFO, make).is_none());
            assert_eq!(
                built.get(),
                0,
                "an INFO span was built under a WARN maximum"
            );
            // At a level the subscriber enables, the span is built and kept.
            assert!(!observed(Level::WARN, || tracing::warn_span!("webhook")).is_disabled());
        });
    }
}
