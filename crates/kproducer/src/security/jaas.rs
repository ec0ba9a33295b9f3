//! Java's `sasl.jaas.config`: one JAAS login module entry, parsed as Kafka's `JaasConfig` parses
//! it (with `java.io.StreamTokenizer`) and checked as `JaasContext` checks the client property.
//!
//! ```text
//! <LoginModuleClass> <required|requisite|sufficient|optional> (name=value)* ;
//! ```
//!
//! Values are bare words or quoted with `"` or `'` (backslash escapes as in Java string
//! literals); whitespace and line breaks may go anywhere; `//`, `/* */` and a lone `/` start
//! comments. Exactly one entry is allowed, as for Java's client property.

use std::collections::BTreeMap;
use std::str::FromStr;

use super::secret::Secret;

/// The JAAS property name, for error messages.
pub(crate) const SASL_JAAS_CONFIG: &str = "sasl.jaas.config";

/// How a login module's result counts (`javax.security.auth.login.AppConfigurationEntry.
/// LoginModuleControlFlag`). Kafka reads one module, so the flag is kept but has no effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlFlag {
    /// `required`
    Required,
    /// `requisite`
    Requisite,
    /// `sufficient`
    Sufficient,
    /// `optional`
    Optional,
}

/// The SASL mechanism family a login module serves, by its Java class name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LoginModuleKind {
    /// `org.apache.kafka.common.security.plain.PlainLoginModule`: PLAIN.
    Plain,
    /// `org.apache.kafka.common.security.scram.ScramLoginModule`: SCRAM-SHA-256 and SCRAM-SHA-512.
    Scram,
    /// `org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule`: OAUTHBEARER.
    OAuthBearer,
    /// `com.sun.security.auth.module.Krb5LoginModule`: GSSAPI (Kerberos), which kproducer does
    /// not support.
    Kerberos,
    /// Any other class: a custom Java login module, which kproducer cannot run.
    Other,
}

impl LoginModuleKind {
    /// The kind of the Java login module class `class`.
    ///
    /// ```
    /// use kproducer::security::LoginModuleKind;
    /// assert_eq!(
    ///     LoginModuleKind::of("org.apache.kafka.common.security.scram.ScramLoginModule"),
    ///     LoginModuleKind::Scram
    /// );
    /// ```
    pub fn of(class: &str) -> LoginModuleKind {
        match class {
            "org.apache.kafka.common.security.plain.PlainLoginModule" => LoginModuleKind::Plain,
            "org.apache.kafka.common.security.scram.ScramLoginModule" => LoginModuleKind::Scram,
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule" => {
                LoginModuleKind::OAuthBearer
            }
            "com.sun.security.auth.module.Krb5LoginModule" => LoginModuleKind::Kerberos,
            _ => LoginModuleKind::Other,
        }
    }

    /// The Java class name of this kind (`None` for [`Other`](Self::Other)).
    pub fn class_name(self) -> Option<&'static str> {
        match self {
            LoginModuleKind::Plain => {
                Some("org.apache.kafka.common.security.plain.PlainLoginModule")
            }
            LoginModuleKind::Scram => {
                Some("org.apache.kafka.common.security.scram.ScramLoginModule")
            }
            LoginModuleKind::OAuthBearer => {
                Some("org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule")
            }
            LoginModuleKind::Kerberos => Some("com.sun.security.auth.module.Krb5LoginModule"),
            LoginModuleKind::Other => None,
        }
    }
}

/// A parsed `sasl.jaas.config`: the login module, its flag and its options.
///
/// Every option value is a [`Secret`], so `Debug` shows the option names but no value.
///
/// ```
/// use kproducer::security::{ControlFlag, JaasConfig, LoginModuleKind};
///
/// let jaas: JaasConfig = r#"org.apache.kafka.common.security.plain.PlainLoginModule required
///     username="alice" password="a \"quoted\" secret";"#
///     .parse()?;
/// assert_eq!(jaas.module_kind(), LoginModuleKind::Plain);
/// assert_eq!(jaas.flag(), ControlFlag::Required);
/// assert_eq!(jaas.option("username"), Some("alice"));
/// assert_eq!(jaas.option("password"), Some("a \"quoted\" secret"));
/// assert!(!format!("{jaas:?}").contains("secret"));
/// # Ok::<(), kproducer::security::JaasError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JaasConfig {
    login_module: String,
    flag: ControlFlag,
    options: BTreeMap<String, Secret>,
}

impl JaasConfig {
    /// Parses a `sasl.jaas.config` value. The error names the property and what is wrong, never
    /// an option value.
    pub fn parse(text: &str) -> Result<JaasConfig, JaasError> {
        let mut tokens = Tokenizer::new(text);
        let mut entries = Vec::new();
        loop {
            let first = tokens.next_token();
            if first == Token::Eof {
                break;
            }
            entries.push(parse_entry(first, &mut tokens)?);
        }
        // JaasConfig refuses no entry at all; JaasContext refuses more than one for the client
        // property.
        match entries.len() {
            0 => Err(JaasErrorKind::NoLoginModule.into()),
            1 => Ok(entries.remove(0)),
            n => Err(JaasErrorKind::LoginModuleCount(n).into()),
        }
    }

    /// The login module's Java class name.
    pub fn login_module(&self) -> &str {
        &self.login_module
    }

    /// The SASL mechanism family of the login module.
    pub fn module_kind(&self) -> LoginModuleKind {
        LoginModuleKind::of(&self.login_module)
    }

    /// The control flag.
    pub fn flag(&self) -> ControlFlag {
        self.flag
    }

    /// The options (a later duplicate replaces an earlier one, as in Java's `HashMap`).
    pub fn options(&self) -> &BTreeMap<String, Secret> {
        &self.options
    }

    /// One option's value.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(Secret::expose)
    }
}

impl FromStr for JaasConfig {
    type Err = JaasError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JaasConfig::parse(s)
    }
}

/// `sasl.jaas.config` could not be parsed. The message says what is wrong and where (after
/// which option), never an option value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {SASL_JAAS_CONFIG}: {kind}")]
pub struct JaasError {
    kind: JaasErrorKind,
}

impl JaasError {
    /// What is wrong.
    pub fn kind(&self) -> &JaasErrorKind {
        &self.kind
    }
}

impl From<JaasErrorKind> for JaasError {
    fn from(kind: JaasErrorKind) -> Self {
        JaasError { kind }
    }
}

/// What is wrong with a `sasl.jaas.config` (Java's messages where it has them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JaasErrorKind {
    /// Nothing but whitespace and comments.
    #[error("login module not specified")]
    NoLoginModule,
    /// More than one entry (Java's client property takes exactly one).
    #[error("it contains {0} login modules, should be 1 module")]
    LoginModuleCount(usize),
    /// The entry starts with `;` or `=` instead of a class name, or the name is empty.
    #[error("an entry does not start with a login module class name")]
    MissingLoginModule,
    /// Nothing follows the login module class.
    #[error("login module control flag not specified")]
    MissingControlFlag,
    /// The word after the class is not a control flag. The word itself is not shown: in a
    /// malformed entry it may be a value.
    #[error("invalid login module control flag: the word after the login module class must be required, requisite, sufficient or optional")]
    InvalidControlFlag,
    /// An option has no `=value` (or no name before `=`). `after` is the option before it, if
    /// any; the option's own name is not shown, since in a malformed entry (an unquoted value
    /// with a space) it may be part of a password.
    #[error("an option {} is not name=value (values with spaces or any of ;=/\"' must be quoted)", .after.as_deref().map(|k| format!("after option '{k}'")).unwrap_or_else(|| "after the control flag".to_string()))]
    MissingValue {
        /// The last option read before the problem.
        after: Option<String>,
    },
    /// The entry does not end with `;`.
    #[error("JAAS config entry not terminated by semi-colon")]
    MissingSemicolon,
}

/// Parses one entry; `first` is its first token (the login module class).
fn parse_entry(first: Token, tokens: &mut Tokenizer) -> Result<JaasConfig, JaasError> {
    let login_module = first.text();
    let flag = match tokens.next_token() {
        Token::Eof => return Err(JaasErrorKind::MissingControlFlag.into()),
        t => match t.text() {
            None => return Err(JaasErrorKind::MissingControlFlag.into()),
            // Java upper-cases with Locale.ROOT, Unicode's full mapping (as `to_uppercase`).
            Some(word) => match word.to_uppercase().as_str() {
                "REQUIRED" => ControlFlag::Required,
                "REQUISITE" => ControlFlag::Requisite,
                "SUFFICIENT" => ControlFlag::Sufficient,
                "OPTIONAL" => ControlFlag::Optional,
                _ => return Err(JaasErrorKind::InvalidControlFlag.into()),
            },
        },
    };
    let mut options = BTreeMap::new();
    let mut last_key: Option<String> = None;
    let terminated = loop {
        let key_token = tokens.next_token();
        match key_token {
            Token::Eof => break false,
            Token::Ordinary(';') => break true,
            _ => {}
        }
        let missing = || JaasErrorKind::MissingValue {
            after: last_key.clone(),
        };
        if tokens.next_token() != Token::Ordinary('=') {
            return Err(missing().into());
        }
        let value = match tokens.next_token().text() {
            Some(v) => v,
            None => return Err(missing().into()),
        };
        // Java puts a null key (an entry like `==v`) in its map; nothing can read it, so it is
        // refused here.
        let key = key_token.text().ok_or_else(missing)?;
        last_key = Some(key.clone());
        options.insert(key, Secret::new(value));
    };
    if !terminated {
        return Err(JaasErrorKind::MissingSemicolon.into());
    }
    // AppConfigurationEntry refuses a null or empty class name.
    let login_module = match login_module {
        Some(m) if !m.is_empty() => m,
        _ => return Err(JaasErrorKind::MissingLoginModule.into()),
    };
    Ok(JaasConfig {
        login_module,
        flag,
        options,
    })
}

/// A `StreamTokenizer` token.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    /// An ordinary character: `;`, `=`, or U+0081..=U+009F (not word characters in Kafka's
    /// syntax table).
    Ordinary(char),
    Eof,
}

impl Token {
    /// Java's `sval`: the text of a word or quoted string.
    fn text(self) -> Option<String> {
        match self {
            Token::Word(s) | Token::Quoted(s) => Some(s),
            Token::Ordinary(_) | Token::Eof => None,
        }
    }
}

/// A port of `java.io.StreamTokenizer.nextToken` with the syntax table Kafka's `JaasConfig` sets
/// up: `resetSyntax(); wordChars(32, 128); wordChars(160, 255); ordinaryChar(';');
/// ordinaryChar('='); whitespaceChars(0, ' '); commentChar('/'); quoteChar('"');
/// quoteChar('\''); slashSlashComments(true); slashStarComments(true)`. Ported rather than
/// re-derived so that its corner cases (an unterminated quote ends at the line, a lone `/`
/// comments out the rest of the line, an unterminated `/*` ends the input) are Java's.
struct Tokenizer {
    chars: Vec<char>,
    pos: usize,
    /// Java's `peekc`: a character already read that the next token starts with (`Some(None)`
    /// is end of input), or `None` to read a new one.
    peek: Option<Option<char>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CharClass {
    Whitespace,
    Word,
    Quote,
    Comment,
    Ordinary,
}

fn class_of(c: char) -> CharClass {
    match c as u32 {
        0..=32 => CharClass::Whitespace,
        0x22 | 0x27 => CharClass::Quote,
        0x2F => CharClass::Comment,
        0x3B | 0x3D => CharClass::Ordinary,
        33..=128 => CharClass::Word,
        129..=159 => CharClass::Ordinary,
        // 160..=255 are word characters; StreamTokenizer treats everything above 255 as one.
        _ => CharClass::Word,
    }
}

impl Tokenizer {
    fn new(text: &str) -> Self {
        Tokenizer {
            chars: text.chars().collect(),
            pos: 0,
            peek: None,
        }
    }

    fn read(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Skips a line comment's body: up to, not including, the line end.
    fn skip_line(&mut self) {
        let mut c = self.read();
        while let Some(ch) = c {
            if ch == '\n' || ch == '\r' {
                break;
            }
            c = self.read();
        }
        self.peek = Some(c);
    }

    fn next_token(&mut self) -> Token {
        let mut c = match self.peek.take() {
            Some(Some(c)) => c,
            Some(None) | None => match self.read() {
                Some(c) => c,
                None => return Token::Eof,
            },
        };
        let mut class = class_of(c);
        while class == CharClass::Whitespace {
            c = match self.read() {
                Some(c) => c,
                None => return Token::Eof,
            };
            class = class_of(c);
        }
        match class {
            CharClass::Word => {
                let mut word = String::new();
                word.push(c);
                loop {
                    match self.read() {
                        Some(d) if class_of(d) == CharClass::Word => word.push(d),
                        other => {
                            self.peek = Some(other);
                            break;
                        }
                    }
                }
                Token::Word(word)
            }
            CharClass::Quote => Token::Quoted(self.quoted(c)),
            CharClass::Comment => {
                // '/': `/*` and `//` comments, and (as '/' is also a comment character) a
                // lone '/' comments out the rest of the line, the character after it included
                // even when that is the line end.
                match self.read() {
                    Some('*') => {
                        let mut prev = None;
                        loop {
                            let mut d = self.read();
                            if d == Some('/') && prev == Some('*') {
                                break;
                            }
                            // Java reads past a line end without comparing the next character
                            // with '/'.
                            if d == Some('\r') {
                                d = self.read();
                                if d == Some('\n') {
                                    d = self.read();
                                }
                            } else if d == Some('\n') {
                                d = self.read();
                            }
                            match d {
                                None => return Token::Eof,
                                Some(_) => prev = d,
                            }
                        }
                    }
                    Some(_) | None => self.skip_line(),
                }
                self.next_token()
            }
            CharClass::Ordinary => Token::Ordinary(c),
            CharClass::Whitespace => Token::Eof,
        }
    }

    /// A quoted string whose opening quote `quote` was just read. It ends at the matching quote
    /// or, without one, at a line end or the end of input (Java accepts both).
    fn quoted(&mut self, quote: char) -> String {
        let mut out = String::new();
        let mut d = self.read();
        while let Some(dc) = d {
            if dc == quote || dc == '\n' || dc == '\r' {
                break;
            }
            let c;
            if dc == '\\' {
                let first = self.read();
                match first {
                    Some(f @ '0'..='7') => {
                        let mut v = f as u32 - '0' as u32;
                        let c2 = self.read();
                        match c2 {
                            Some(c2 @ '0'..='7') => {
                                v = (v << 3) + (c2 as u32 - '0' as u32);
                                let c3 = self.read();
                                match c3 {
                                    // A third digit only when the first is 0..=3 (\377 max).
                                    Some(c3 @ '0'..='7') if f <= '3' => {
                                        v = (v << 3) + (c3 as u32 - '0' as u32);
                                        d = self.read();
                                    }
                                    other => d = other,
                                }
                            }
                            other => d = other,
                        }
                        c = char::from_u32(v).unwrap_or('\u{FFFD}');
                    }
                    other => {
                        c = match other {
                            Some('a') => '\u{7}',
                            Some('b') => '\u{8}',
                            Some('f') => '\u{C}',
                            Some('n') => '\n',
                            Some('r') => '\r',
                            Some('t') => '\t',
                            Some('v') => '\u{B}',
                            Some(other) => other,
                            // A backslash at the end of input: Java stores (char) -1.
                            None => '\u{FFFF}',
                        };
                        d = self.read();
                    }
                }
            } else {
                c = dc;
                d = self.read();
            }
            out.push(c);
        }
        // The matching quote is consumed; a line end is left for the next token.
        self.peek = if d == Some(quote) { None } else { Some(d) };
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";

    fn parse(s: &str) -> JaasConfig {
        match JaasConfig::parse(s) {
            Ok(j) => j,
            Err(e) => panic!("{s:?}: {e}"),
        }
    }

    fn kind(s: &str) -> JaasErrorKind {
        match JaasConfig::parse(s) {
            Ok(j) => panic!("{s:?} parsed: {j:?}"),
            Err(e) => e.kind().clone(),
        }
    }

    #[test]
    fn parses_a_module_with_quoted_and_bare_values() {
        let j = parse(&format!(
            "{PLAIN} required username=\"alice\" password='pen cil' serviceName=kafka-1.x;"
        ));
        assert_eq!(j.login_module(), PLAIN);
        assert_eq!(j.module_kind(), LoginModuleKind::Plain);
        assert_eq!(j.flag(), ControlFlag::Required);
        assert_eq!(j.option("username"), Some("alice"));
        assert_eq!(j.option("password"), Some("pen cil"));
        assert_eq!(j.option("serviceName"), Some("kafka-1.x"));
        assert_eq!(j.options().len(), 3);
    }

    #[test]
    fn escapes_in_quoted_values_are_java_s() {
        let j = parse(&format!(
            r#"{PLAIN} required a="x\"y" b="back\\slash" c="tab\tnl\n" d="\101\60\0" e='it\'s' f="\q";"#
        ));
        assert_eq!(j.option("a"), Some("x\"y"));
        assert_eq!(j.option("b"), Some("back\\slash"));
        assert_eq!(j.option("c"), Some("tab\tnl\n"));
        // Octal escapes: \101 = 'A', \60 = '0', \0 = NUL.
        assert_eq!(j.option("d"), Some("A0\0"));
        assert_eq!(j.option("e"), Some("it's"));
        // An unknown escape is the character itself.
        assert_eq!(j.option("f"), Some("q"));
    }

    #[test]
    fn whitespace_newlines_and_comments_go_anywhere() {
        let text = format!(
            "  // the module\n{PLAIN}\n\trequired /* flag */ username\n=\n\"alice\" /* a\n multi-line\r\n comment */ password = \"p\"\r\n ;  // done\n"
        );
        let j = parse(&text);
        assert_eq!(j.option("username"), Some("alice"));
        assert_eq!(j.option("password"), Some("p"));
        // Java's StreamTokenizer: a lone '/' also comments out the rest of its line.
        let j = parse(&format!("{PLAIN} required a=b / c=d\n e=f;"));
        assert_eq!(j.option("a"), Some("b"));
        assert_eq!(j.option("c"), None);
        assert_eq!(j.option("e"), Some("f"));
    }

    #[test]
    fn block_comments_end_as_in_java_s_tokenizer() {
        // `*/` right after a line break closes the comment.
        let j = parse(&format!(
            "{PLAIN} required /* a\n*/ a=b /**/ c=d /*/ x=y */;"
        ));
        assert_eq!(j.option("a"), Some("b"));
        assert_eq!(j.option("c"), Some("d"));
        assert_eq!(j.option("x"), None);
        // An unterminated `/*` ends the input.
        assert_eq!(
            kind(&format!("{PLAIN} required a=b /* c=d;")),
            JaasErrorKind::MissingSemicolon
        );
    }

    #[test]
    fn flags_are_case_insensitive() {
        for (word, flag) in [
            ("required", ControlFlag::Required),
            ("REQUISITE", ControlFlag::Requisite),
            ("Sufficient", ControlFlag::Sufficient),
            ("optional", ControlFlag::Optional),
            ("\"required\"", ControlFlag::Required),
        ] {
            assert_eq!(parse(&format!("{PLAIN} {word};")).flag(), flag, "{word}");
        }
        assert!(parse(&format!("{PLAIN} required;")).options().is_empty());
    }

    #[test]
    fn a_later_duplicate_option_wins() {
        let j = parse(&format!("{PLAIN} required a=1 a=2;"));
        assert_eq!(j.option("a"), Some("2"));
    }

    #[test]
    fn unterminated_quotes_end_at_the_line_as_in_java() {
        let j = parse(&format!("{PLAIN} required a=\"open\n b=c;"));
        assert_eq!(j.option("a"), Some("open"));
        assert_eq!(j.option("b"), Some("c"));
        // At the end of input the entry is then unterminated.
        assert_eq!(
            kind(&format!("{PLAIN} required a=\"open;")),
            JaasErrorKind::MissingSemicolon
        );
    }

    #[test]
    fn malformed_configs_are_refused_with_what_is_wrong() {
        assert_eq!(kind(""), JaasErrorKind::NoLoginModule);
        assert_eq!(
            kind("  /* nothing */ // here"),
            JaasErrorKind::NoLoginModule
        );
        assert_eq!(kind(PLAIN), JaasErrorKind::MissingControlFlag);
        assert_eq!(
            kind(&format!("{PLAIN} ;")),
            JaasErrorKind::MissingControlFlag
        );
        assert_eq!(
            kind(&format!("{PLAIN} mandatory a=b;")),
            JaasErrorKind::InvalidControlFlag
        );
        assert_eq!(
            kind(&format!("{PLAIN} required a=b")),
            JaasErrorKind::MissingSemicolon
        );
        assert_eq!(
            kind(&format!("{PLAIN} required a;")),
            JaasErrorKind::MissingValue { after: None }
        );
        assert_eq!(
            kind(&format!("{PLAIN} required a=b c=;")),
            JaasErrorKind::MissingValue {
                after: Some("a".into())
            }
        );
        assert_eq!(
            kind(&format!("{PLAIN} required =b;")),
            JaasErrorKind::MissingValue { after: None }
        );
        assert_eq!(kind("; required;"), JaasErrorKind::MissingLoginModule);
        assert_eq!(kind("\"\" required;"), JaasErrorKind::MissingLoginModule);
        assert_eq!(
            kind(&format!("{PLAIN} required; {PLAIN} required;")),
            JaasErrorKind::LoginModuleCount(2)
        );
        // A second `;` starts an entry without a flag, as in Java.
        assert_eq!(
            kind(&format!("{PLAIN} required;;")),
            JaasErrorKind::MissingControlFlag
        );
    }

    #[test]
    fn errors_and_debug_never_show_a_value() {
        // An unquoted password with a space: Java would name "s3cr3t" as a key without a value.
        let text = format!("{PLAIN} required username=alice password=hunter2 s3cr3t;");
        let e = JaasConfig::parse(&text).unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(shown.contains("sasl.jaas.config"), "{shown}");
        assert!(shown.contains("after option 'password'"), "{shown}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cr3t"),
            "{shown}"
        );

        let j = parse(&format!(
            "{PLAIN} required username=\"alice\" password=\"hunter2\";"
        ));
        let debug = format!("{j:?}");
        assert!(debug.contains("password"), "{debug}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("alice"),
            "{debug}"
        );
    }

    #[test]
    fn login_modules_map_to_their_mechanism_family() {
        for kind in [
            LoginModuleKind::Plain,
            LoginModuleKind::Scram,
            LoginModuleKind::OAuthBearer,
            LoginModuleKind::Kerberos,
        ] {
            let class = kind.class_name().unwrap();
            assert_eq!(LoginModuleKind::of(class), kind);
            assert_eq!(parse(&format!("{class} required;")).module_kind(), kind);
        }
        assert_eq!(
            LoginModuleKind::of("com.example.Custom"),
            LoginModuleKind::Other
        );
        assert_eq!(LoginModuleKind::Other.class_name(), None);
    }

    #[test]
    fn non_ascii_characters_follow_java_s_syntax_table() {
        // U+00A0..U+00FF and everything above U+00FF are word characters; U+0081..U+009F are
        // ordinary, so one ends a bare value and is then not a key.
        let j = parse(&format!("{PLAIN} required user=jürgen€ x=\u{A0}y;"));
        assert_eq!(j.option("user"), Some("jürgen€"));
        assert_eq!(j.option("x"), Some("\u{A0}y"));
        assert!(matches!(
            kind(&format!("{PLAIN} required a=b\u{85};")),
            JaasErrorKind::MissingValue { .. }
        ));
    }
}
