//! The one list of header and query-parameter names whose values sign or authenticate a
//! request. The sender's `Debug` and its sensitive-header marking and the CLI's printing of
//! captured requests all ask it, so a name hidden in one place is hidden in every other.

/// Whether a header or query parameter called `name` (any case) carries a credential.
///
/// Long words count anywhere in the name (`X-Sam-Signature`, `X-Api-Key`, `access_token`,
/// `Set-Cookie`); short ones only as the whole name, since inside other names they mean
/// something else (`design`, `keyboard`, `zipcode`).
pub(crate) fn is_credential(name: &str) -> bool {
    const ANYWHERE: [&str; 8] = [
        "signature",
        "token",
        "authorization",
        "secret",
        "api-key",
        "api_key",
        "apikey",
        "cookie",
    ];
    const WHOLE: [&str; 4] = ["sign", "sig", "key", "code"];
    let name = name.to_ascii_lowercase();
    ANYWHERE.iter().any(|w| name.contains(w)) || WHOLE.contains(&name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_words_anywhere_short_ones_whole() {
        for yes in [
            "X-Sam-Signature",
            "access_token",
            "Authorization",
            "X-Api-Key",
            "api_key",
            "Cookie",
            "client_secret",
            "sig",
            "SIGN",
            "key",
            "code",
        ] {
            assert!(is_credential(yes), "{yes}");
        }
        for no in [
            "design",
            "keyboard",
            "zipcode",
            "page",
            "content-type",
            "x-request-id",
        ] {
            assert!(!is_credential(no), "{no}");
        }
    }
}
