//! Per-delivery spans that cost nothing when nothing can see them.
//!
//! tracing's `log` feature (actix-web's dependencies turn it on in every build with the `actix`
//! feature) keeps a span that no subscriber enabled alive for the `log` crate: each enter, exit
//! and `record` then looks its field up by name, builds a value set and asks `log` whether to
//! print it (542 instructions per fresh delivery through `Receiver`, BENCHMARKS.md). When no
//! subscriber enabled the span and `log` would print nothing either (no tracing dispatcher may
//! forward it, or `log`'s level is off), [`Span::none`] behaves the same for every observer and
//! makes those calls free.

use tracing::Span;

/// `span`, or [`Span::none`] when neither a tracing subscriber nor a `log` logger can observe it:
/// tracing forwards a disabled span to `log` only while no dispatcher has been set, and `log`
/// drops every record while its maximum level is off.
pub(crate) fn observed(span: Span) -> Span {
    let seen_by_log =
        || !tracing::dispatcher::has_been_set() && log::max_level() != log::LevelFilter::Off;
    if span.is_disabled() && !seen_by_log() {
        Span::none()
    } else {
        span
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_a_subscriber_enabled_is_kept() {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = observed(tracing::info_span!("webhook"));
            assert!(!span.is_disabled());
        });
    }

    #[test]
    fn a_span_nothing_can_see_becomes_none() {
        // No dispatcher here, and this test binary installs no `log` logger.
        let span = observed(tracing::info_span!("webhook"));
        assert!(span.is_none());
        // A subscriber that filters the span out: disabled, and `log` is not asked.
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_writer(std::io::sink)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            assert!(observed(tracing::info_span!("webhook")).is_none());
        });
    }
}
