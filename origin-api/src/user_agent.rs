//! A short description of a session's client, from its `User-Agent`: "Firefox on Linux".
//!
//! Only words from the fixed vocabulary below ever come out, so the description carries nothing the
//! client wrote (the raw header is neither stored nor logged): a user reading their session list
//! can recognise a device, and a forged header can at worst pick another word.

/// Browsers and tools, most specific first: Edge and Opera also say "Chrome", Chrome also says
/// "Safari".
const BROWSERS: &[(&str, &str)] = &[
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("reqwest", "reqwest"),
    ("python-requests/", "Python requests"),
    ("okhttp/", "OkHttp"),
];

/// Operating systems, most specific first: Android also says "Linux", iOS "like Mac OS X".
const SYSTEMS: &[(&str, &str)] = &[
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
];

/// The longest header looked at; longer ones are cut (a header of megabytes costs nothing).
const MAX_SCANNED_BYTES: usize = 512;

/// "Browser on OS", "Browser", "OS device", or "Unknown client".
pub fn describe(user_agent: Option<&str>) -> String {
    let ua = user_agent.unwrap_or("");
    let mut end = MAX_SCANNED_BYTES.min(ua.len());
    while !ua.is_char_boundary(end) {
        end -= 1;
    }
    let ua = ua.get(..end).unwrap_or("");
    let pick = |table: &[(&str, &'static str)]| {
        table
            .iter()
            .find(|(marker, _)| ua.contains(marker))
            .map(|(_, name)| *name)
    };
    match (pick(BROWSERS), pick(SYSTEMS)) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        (None, Some(system)) => format!("{system} device"),
        (None, None) => "Unknown client".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_browsers_and_systems_are_recognised() {
        let cases = [
            ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Linux"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0", "Edge on Windows"),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", "Safari on macOS"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0 Mobile/15E148 Safari/604.1", "Chrome on iOS"),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36", "Chrome on Android"),
            ("curl/8.8.0", "curl"),
        ];
        for (ua, expected) in cases {
            assert_eq!(describe(Some(ua)), expected, "{ua}");
        }
    }

    #[test]
    fn nothing_the_client_wrote_comes_out() {
        assert_eq!(describe(None), "Unknown client");
        assert_eq!(
            describe(Some("<script>alert(1)</script>")),
            "Unknown client"
        );
        assert_eq!(describe(Some("evil\u{0}Linux")), "Linux device");
        let huge = format!("{}Firefox/1", "x".repeat(10_000));
        assert_eq!(
            describe(Some(&huge)),
            "Unknown client",
            "only the start is scanned"
        );
        // A cut inside a multi-byte character does not panic.
        let multibyte = format!("a{}", "é".repeat(400));
        assert_eq!(describe(Some(&multibyte)), "Unknown client");
    }
}
