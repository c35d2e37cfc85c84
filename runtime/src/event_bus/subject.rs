//! Subjects and subject patterns, in NATS syntax: dot-separated non-empty
//! tokens, `*` for exactly one token, `>` (last) for one or more. RabbitMQ
//! routing keys are the same dotted words; its `#` (zero or more words) is
//! accepted in patterns too, and `>` becomes `*.#` in a RabbitMQ binding.

/// The longest subject or pattern accepted, in bytes.
const MAX_LEN: usize = 255;

/// A subject to publish to: tokens without wildcards.
pub(crate) fn check_subject(subject: &str) -> Result<(), String> {
    check_tokens(subject)?;
    if subject.split('.').any(|t| matches!(t, "*" | ">" | "#")) {
        return Err("a subject to publish to has no wildcards (`*`, `>`, `#`)".into());
    }
    Ok(())
}

/// A pattern: tokens, `*`, `#`, and `>` as the last token only.
pub(crate) fn check_pattern(pattern: &str) -> Result<(), String> {
    check_tokens(pattern)?;
    let tokens: Vec<&str> = pattern.split('.').collect();
    if tokens[..tokens.len() - 1].contains(&">") {
        return Err("`>` must be the last token".into());
    }
    Ok(())
}

fn check_tokens(text: &str) -> Result<(), String> {
    if text.is_empty() || text.len() > MAX_LEN {
        return Err(format!("a subject has 1 to {MAX_LEN} bytes"));
    }
    if text.split('.').any(str::is_empty) {
        return Err("a subject is dot-separated non-empty tokens".into());
    }
    if let Some(c) = text.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{c:?} is not allowed in a subject"));
    }
    for token in text.split('.') {
        if token.len() > 1 && token.contains(['*', '>', '#']) {
            return Err(format!("`{token}`: a wildcard is a whole token"));
        }
    }
    Ok(())
}

/// Whether `subject` matches `pattern` (one pass over both, with `#`
/// matching zero or more tokens by backtracking to the last `#` only).
pub(crate) fn matches(pattern: &str, subject: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let subject: Vec<&str> = subject.split('.').collect();
    let (mut p, mut s) = (0, 0);
    // The last `#` seen and the subject position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while s < subject.len() {
        match pattern.get(p) {
            Some(&">") => return p + 1 == pattern.len(),
            Some(&"#") => {
                star = Some((p, s));
                p += 1;
            }
            Some(&token) if token == "*" || token == subject[s] => {
                p += 1;
                s += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    p = sp + 1;
                    s = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|t| *t == "#")
}

/// A pattern as a RabbitMQ topic-exchange binding key: `>` (one or more
/// tokens) is `*.#`.
pub(crate) fn amqp_binding(pattern: &str) -> String {
    pattern.split('.').map(|t| if t == ">" { "*.#" } else { t }).collect::<Vec<_>>().join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_like_nats_and_rabbitmq() {
        let cases = [
            ("a.b.c", "a.b.c", true),
            ("a.b.c", "a.b", false),
            ("a.*.c", "a.x.c", true),
            ("a.*.c", "a.x.y.c", false),
            ("a.>", "a.b", true),
            ("a.>", "a.b.c", true),
            ("a.>", "a", false),
            ("a.#", "a", true),
            ("a.#", "a.b.c", true),
            ("#.c", "a.b.c", true),
            ("a.#.c", "a.c", true),
            ("a.#.c", "a.b.b.c", true),
            ("a.#.c", "a.b.d", false),
            ("#", "x.y", true),
            ("*", "x.y", false),
        ];
        for (pattern, subject, expected) in cases {
            assert_eq!(matches(pattern, subject), expected, "{pattern} ~ {subject}");
        }
    }

    #[test]
    fn subjects_and_patterns_are_checked() {
        assert!(check_subject("shop.orders.eu").is_ok());
        assert!(check_subject("shop.*.eu").unwrap_err().contains("no wildcards"));
        assert!(check_subject("shop..eu").unwrap_err().contains("non-empty tokens"));
        assert!(check_subject("shop orders").unwrap_err().contains("' ' is not allowed"));
        assert!(check_pattern("shop.>").is_ok());
        assert!(check_pattern("shop.>.x").unwrap_err().contains("last token"));
        assert!(check_pattern("shop.a*").unwrap_err().contains("whole token"));
        assert!(check_pattern(&"a".repeat(300)).is_err());
        assert_eq!(amqp_binding("shop.*.>"), "shop.*.*.#");
    }
}
