//! The `.properties` reader and the configuration built from it, on arbitrary text: Java's
//! escapes, continuations, separators and comments, then every key's validation. Errors are
//! fine; panics are not, and a successful parse must survive being written back and read again.
#![no_main]

use kproducer::ProducerConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = ProducerConfig::from_properties_str(text);
    if let Ok(pairs) = kproducer::config::properties::parse(text) {
        // Written back with every special character escaped, it reads the same.
        let mut out = String::new();
        for (k, v) in &pairs {
            let esc = |s: &str, key: bool| {
                let mut e = String::new();
                for (i, c) in s.chars().enumerate() {
                    match c {
                        '\\' => e.push_str("\\\\"),
                        '\n' => e.push_str("\\n"),
                        '\r' => e.push_str("\\r"),
                        '\t' => e.push_str("\\t"),
                        '\u{c}' => e.push_str("\\f"),
                        '=' | ':' | '#' | '!' => {
                            e.push('\\');
                            e.push(c)
                        }
                        ' ' if key || i == 0 => e.push_str("\\ "),
                        c if (c as u32) < 0x20 || c as u32 > 0x7e => {
                            for unit in c.encode_utf16(&mut [0; 2]) {
                                e.push_str(&format!("\\u{unit:04x}"));
                            }
                        }
                        c => e.push(c),
                    }
                }
                e
            };
            out.push_str(&esc(k, true));
            out.push('=');
            out.push_str(&esc(v, false));
            out.push('\n');
        }
        let again = kproducer::config::properties::parse(&out).expect("our own output parses");
        assert_eq!(again, pairs, "round trip of {out:?}");
    }
});
