//! A reader for Java's `.properties` format, as `java.util.Properties.load` reads it, so a Java
//! `producer.properties` loads unchanged.
//!
//! Rules followed: lines end at `\n`, `\r` or `\r\n`; leading whitespace (space, tab, form feed) is
//! skipped; a line whose first non-blank character is `#` or `!` is a comment; a line ending in an
//! odd number of backslashes continues on the next line (whose leading whitespace is skipped); the
//! key ends at the first unescaped `=`, `:` or whitespace, and whitespace plus at most one `=`/`:`
//! separate it from the value; escapes `\t \n \r \f \uXXXX` are decoded and any other `\c` means `c`.
//! Trailing whitespace of a value is kept (as in Java); the typed parsers trim it.

/// A syntax error, with the 1-based line where its logical line starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertiesError {
    /// Line number (1-based).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for PropertiesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\x0c'
}

/// Splits `input` into natural lines, each with its 1-based line number.
fn natural_lines(input: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let bytes = input.as_bytes();
    let (mut start, mut i, mut line) = (0, 0, 1);
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                out.push((line, &input[start..i]));
                i += 1;
                start = i;
                line += 1;
            }
            b'\r' => {
                out.push((line, &input[start..i]));
                i += 1;
                if bytes.get(i) == Some(&b'\n') {
                    i += 1;
                }
                start = i;
                line += 1;
            }
            _ => i += 1,
        }
    }
    if start < bytes.len() {
        out.push((line, &input[start..]));
    }
    out
}

/// Whether `s` ends in an odd number of backslashes (an escaped line end).
fn continues(s: &str) -> bool {
    s.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// Parses properties text into `(key, value)` pairs in file order (a later duplicate wins when
/// collected into a map, as in Java).
///
/// ```
/// use kproducer::config::properties::parse;
/// let pairs = parse("# comment\nacks = all\nbootstrap.servers: a:9092,\\\n    b:9092\n").unwrap();
/// assert_eq!(pairs, vec![
///     ("acks".to_string(), "all".to_string()),
///     ("bootstrap.servers".to_string(), "a:9092,b:9092".to_string()),
/// ]);
/// ```
pub fn parse(input: &str) -> Result<Vec<(String, String)>, PropertiesError> {
    // A UTF-8 byte order mark is not part of the first key.
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let lines = natural_lines(input);
    let mut out = Vec::new();
    let mut idx = 0;
    while idx < lines.len() {
        let (line_no, raw) = lines[idx];
        idx += 1;
        let first = raw.trim_start_matches(is_blank);
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = first.to_string();
        while continues(&logical) {
            logical.pop();
            match lines.get(idx) {
                Some((_, next)) => {
                    logical.push_str(next.trim_start_matches(is_blank));
                    idx += 1;
                }
                // Java drops a backslash at the very end of the input.
                None => break,
            }
        }
        let (key, value) = split_key_value(&logical);
        let key = unescape(key).map_err(|message| PropertiesError {
            line: line_no,
            message,
        })?;
        let value = unescape(value).map_err(|message| PropertiesError {
            line: line_no,
            message,
        })?;
        out.push((key, value));
    }
    Ok(out)
}

/// Splits a logical line (escapes still in place) into its raw key and raw value.
fn split_key_value(line: &str) -> (&str, &str) {
    let mut escaped = false;
    let mut key_end = line.len();
    let mut value_start = line.len();
    let mut has_sep = false;
    for (i, c) in line.char_indices() {
        if !escaped && (c == '=' || c == ':') {
            key_end = i;
            value_start = i + 1;
            has_sep = true;
            break;
        }
        if !escaped && is_blank(c) {
            key_end = i;
            value_start = i + c.len_utf8();
            break;
        }
        escaped = c == '\\' && !escaped;
    }
    let mut rest = &line[value_start..];
    // Whitespace, then at most one separator if none was seen yet, then whitespace.
    while let Some(c) = rest.chars().next() {
        if is_blank(c) {
            rest = &rest[c.len_utf8()..];
        } else if !has_sep && (c == '=' || c == ':') {
            has_sep = true;
            rest = &rest[1..];
        } else {
            break;
        }
    }
    (&line[..key_end], rest)
}

/// Decodes Java escapes. `\uXXXX` pairs forming a UTF-16 surrogate pair become one character.
fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    let mut pending_high: Option<u16> = None;
    while let Some(c) = chars.next() {
        let decoded = if c == '\\' {
            match chars.next() {
                Some('u') => {
                    let mut unit: u16 = 0;
                    for _ in 0..4 {
                        let d = chars
                            .next()
                            .and_then(|h| h.to_digit(16))
                            .ok_or_else(|| "Malformed \\uxxxx encoding.".to_string())?;
                        // d < 16, so this cannot overflow four digits.
                        unit = (unit << 4) | d as u16;
                    }
                    Unit::Utf16(unit)
                }
                Some('t') => Unit::Char('\t'),
                Some('n') => Unit::Char('\n'),
                Some('r') => Unit::Char('\r'),
                Some('f') => Unit::Char('\x0c'),
                Some(other) => Unit::Char(other),
                // A lone trailing backslash carries nothing.
                None => break,
            }
        } else {
            Unit::Char(c)
        };
        match (pending_high.take(), decoded) {
            (Some(high), Unit::Utf16(low)) if (0xDC00..0xE000).contains(&low) => {
                let code = 0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                out.push(char::from_u32(code).ok_or_else(|| "invalid surrogate pair".to_string())?);
            }
            (Some(_), _) => return Err("unpaired UTF-16 surrogate in \\u escape".to_string()),
            (None, Unit::Utf16(u)) if (0xD800..0xDC00).contains(&u) => pending_high = Some(u),
            (None, Unit::Utf16(u)) => out.push(
                char::from_u32(u32::from(u))
                    .ok_or_else(|| "unpaired UTF-16 surrogate in \\u escape".to_string())?,
            ),
            (None, Unit::Char(ch)) => out.push(ch),
        }
    }
    if pending_high.is_some() {
        return Err("unpaired UTF-16 surrogate in \\u escape".to_string());
    }
    Ok(out)
}

enum Unit {
    Char(char),
    Utf16(u16),
}

/// Decodes a file's bytes: UTF-8 when valid, else ISO-8859-1 (what Java's `Properties.load(InputStream)`
/// assumes, so a Latin-1 file written for Java still loads).
pub fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn separators_and_whitespace() {
        let p = parse("a=1\nb: 2\nc 3\n  d\t =  4\ne\nf=\ng :=x").unwrap();
        assert_eq!(
            p,
            vec![
                kv("a", "1"),
                kv("b", "2"),
                kv("c", "3"),
                kv("d", "4"),
                kv("e", ""),
                kv("f", ""),
                kv("g", "=x"),
            ]
        );
    }

    #[test]
    fn comments_and_blank_lines() {
        let p = parse("# c1\n   ! c2\n\n   \na=1 # not a comment\n").unwrap();
        assert_eq!(p, vec![kv("a", "1 # not a comment")]);
    }

    #[test]
    fn continuation_lines() {
        let p = parse("a=x,\\\n   y,\\\r\n\tz\nb=\\\\\nc=1").unwrap();
        assert_eq!(p, vec![kv("a", "x,y,z"), kv("b", "\\"), kv("c", "1")]);
        // A continued line starting with # is value text, not a comment.
        assert_eq!(parse("a=1\\\n#2").unwrap(), vec![kv("a", "1#2")]);
        // A comment line ending in a backslash does not continue.
        assert_eq!(parse("#x\\\na=1").unwrap(), vec![kv("a", "1")]);
        // A backslash at the end of input is dropped.
        assert_eq!(parse("a=1\\").unwrap(), vec![kv("a", "1")]);
    }

    #[test]
    fn escapes() {
        let p = parse(r"k\=ey\:x\ y=a\tb\nc\\d\u00e9\=\:\q").unwrap();
        assert_eq!(p, vec![kv("k=ey:x y", "a\tb\nc\\d\u{e9}=:q")]);
        assert_eq!(
            parse(r"e=\ud83d\ude00").unwrap(),
            vec![kv("e", "\u{1F600}")]
        );
        let err = parse("a=1\nb=\\u12G4").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("Malformed"), "{err}");
        assert!(parse(r"e=\ud83d").is_err());
    }

    #[test]
    fn line_endings_and_bom() {
        let p = parse("\u{feff}a=1\rb=2\r\nc=3").unwrap();
        assert_eq!(p, vec![kv("a", "1"), kv("b", "2"), kv("c", "3")]);
    }

    #[test]
    fn trailing_value_whitespace_kept() {
        assert_eq!(parse("a = 1  ").unwrap(), vec![kv("a", "1  ")]);
    }

    #[test]
    fn latin1_fallback() {
        assert_eq!(decode(b"a=\xe9"), "a=\u{e9}");
        assert_eq!(decode("a=é".as_bytes()), "a=é");
    }
}
