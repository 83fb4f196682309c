//! Strips comments and indentation from the runtime's JavaScript before it
//! is compiled into the startup snapshot. V8 keeps the source text for lazy
//! compilation and `Function.prototype.toString`; isolates read it in place
//! from the binary (see `snapshot_builder.rs`), and about a sixth of `js/`
//! is comments and indentation that would only make the binary bigger and
//! every lazy compile scan more text. (Before the text was external, every
//! isolate copied it, and stripping made an isolate about 7% faster to
//! create.)
//!
//! Line breaks are all kept, so line numbers in stack traces still match
//! the files in `js/` (columns move left by the indentation). Strings,
//! template literals (including `${}` nesting) and regular-expression
//! literals are copied as they are; a `/` starts a regular expression when
//! what comes before it cannot end an operand, as in every JS lexer that
//! works without a parser.
//!
//! Compiled into the build script (which strips) and into the runtime's
//! unit tests only.

/// What the scanner is inside of.
#[derive(Clone, Copy, PartialEq)]
enum Context {
    /// Code; the value counts the open braces since the enclosing `${`.
    Code(u32),
    /// A template literal's text.
    Template,
}

/// Words after which a `/` starts a regular expression.
const REGEX_AFTER_WORDS: &[&str] = &[
    "return",
    "typeof",
    "instanceof",
    "in",
    "of",
    "new",
    "delete",
    "void",
    "throw",
    "case",
    "do",
    "else",
    "yield",
    "await",
];

/// `source` without comments, leading indentation or trailing spaces, with
/// the same lines.
pub fn strip(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len());
    let mut stack = vec![Context::Code(0)];
    // The last significant character of code written, and the word it ends
    // (for `return /x/`).
    let mut last: u8 = b'\n';
    let mut last_word = String::new();
    // The byte just before this one was part of a word.
    let mut prev_word = false;
    let mut at_line_start = true;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let was_word = std::mem::replace(&mut prev_word, false);
        let context = stack.last().copied().unwrap_or(Context::Code(0));
        if context == Context::Template {
            // Template text is copied as it is, up to its end or a `${`.
            match c {
                b'\\' => {
                    push_slice(&mut out, bytes, i, (i + 2).min(bytes.len()));
                    i += 2;
                }
                b'`' => {
                    out.push('`');
                    stack.pop();
                    last = b'`';
                    i += 1;
                }
                b'$' if bytes.get(i + 1) == Some(&b'{') => {
                    out.push_str("${");
                    stack.push(Context::Code(0));
                    last = b'{';
                    i += 2;
                }
                _ => {
                    out.push(char::from(c));
                    i += 1;
                }
            }
            at_line_start = false;
            continue;
        }
        if at_line_start && (c == b' ' || c == b'\t') {
            i += 1;
            continue;
        }
        at_line_start = false;
        match c {
            b'\n' => {
                trim_trailing_spaces(&mut out);
                out.push('\n');
                at_line_start = true;
                i += 1;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                // A line comment: up to (not including) the line break.
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                // A block comment: only its line breaks are kept. One that
                // stays on its line becomes a space, so it still separates.
                let end = find(bytes, i + 2, b"*/").map_or(bytes.len(), |e| e + 2);
                let newlines = bytes[i..end].iter().filter(|&&b| b == b'\n').count();
                if newlines == 0 {
                    out.push(' ');
                } else {
                    for _ in 0..newlines {
                        trim_trailing_spaces(&mut out);
                        out.push('\n');
                    }
                    at_line_start = true;
                }
                i = end;
            }
            b'/' if starts_regex(last, &last_word) => {
                let end = regex_end(bytes, i);
                push_slice(&mut out, bytes, i, end);
                last = b'/';
                last_word.clear();
                i = end;
            }
            b'\'' | b'"' => {
                let end = string_end(bytes, i);
                push_slice(&mut out, bytes, i, end);
                last = c;
                last_word.clear();
                i = end;
            }
            b'`' => {
                out.push('`');
                stack.push(Context::Template);
                i += 1;
            }
            b'{' => {
                if let Some(Context::Code(depth)) = stack.last_mut() {
                    *depth += 1;
                }
                out.push('{');
                last = c;
                last_word.clear();
                i += 1;
            }
            b'}' => {
                let nested = stack.len() > 1;
                match stack.last_mut() {
                    // The `}` that closes a `${`: back to the template.
                    Some(Context::Code(0)) if nested => {
                        stack.pop();
                    }
                    Some(Context::Code(depth)) => *depth = depth.saturating_sub(1),
                    _ => {}
                }
                out.push('}');
                last = c;
                last_word.clear();
                i += 1;
            }
            _ => {
                out.push(char::from(c));
                if is_word_byte(c) {
                    if !was_word {
                        last_word.clear();
                    }
                    last_word.push(char::from(c));
                    last = c;
                    prev_word = true;
                } else if !c.is_ascii_whitespace() {
                    last = c;
                    last_word.clear();
                }
                i += 1;
            }
        }
    }
    trim_trailing_spaces(&mut out);
    out
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$'
}

/// Whether a `/` after `last` (and the word it ends) starts a regular
/// expression rather than a division.
fn starts_regex(last: u8, last_word: &str) -> bool {
    if is_word_byte(last) {
        return REGEX_AFTER_WORDS.contains(&last_word);
    }
    // After `)`, `]`, `}` or a literal's end it is a division. (A block's
    // `}` followed by a regular expression is not written in `js/`.)
    !matches!(last, b')' | b']' | b'}' | b'\'' | b'"' | b'`' | b'/')
}

/// The end (exclusive) of the string literal starting at `start`.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' => return i,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The end (exclusive) of the regular-expression literal starting at
/// `start`, flags included.
fn regex_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    let mut in_class = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' => return i,
            b'[' => {
                in_class = true;
                i += 1;
            }
            b']' => {
                in_class = false;
                i += 1;
            }
            b'/' if !in_class => {
                i += 1;
                while i < bytes.len() && is_word_byte(bytes[i]) {
                    i += 1;
                }
                return i;
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn push_slice(out: &mut String, bytes: &[u8], from: usize, to: usize) {
    // The source is ASCII (the build script checks), so bytes are chars.
    out.extend(bytes[from..to.min(bytes.len())].iter().map(|&b| char::from(b)));
}

fn trim_trailing_spaces(out: &mut String) {
    while out.ends_with(' ') || out.ends_with('\t') {
        out.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::strip;

    #[test]
    fn comments_and_indentation_go_and_lines_stay() {
        let src = "// head\nfunction f(a) {\n    /* one\n       two */\n    return a; // tail\n}\n";
        let out = strip(src);
        assert_eq!(out, "\nfunction f(a) {\n\n\nreturn a;\n}\n");
        assert_eq!(out.lines().count(), src.lines().count());
    }

    #[test]
    fn strings_templates_and_regexes_are_kept_whole() {
        let kept = [
            "const s = \"a // not a comment\";",
            "const s = 'it''s /* no */';",
            "const re = /^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$/;",
            "const re = /\\/\\/ x/g.test(s);",
            "if (x) return /a\\/b/.test(y);",
            "const t = `a ${b ? `c ${d} // e` : { f: 1 }.f} /* g */`;",
            "x = y.length / 2; z = (a) / 3;",
        ];
        for src in kept {
            assert_eq!(strip(src), src);
        }
        // Divisions are not mistaken for a regular expression that would
        // swallow the comment after them.
        assert_eq!(strip("const n = a / b / c; // half"), "const n = a / b / c;");
    }

    #[test]
    fn template_text_keeps_its_indentation_across_lines() {
        let src = "const t = `line one\n    indented // kept\n`;\n    next();";
        assert_eq!(strip(src), "const t = `line one\n    indented // kept\n`;\nnext();");
    }

    #[test]
    fn a_regex_after_a_keyword_and_a_division_after_a_name() {
        let src = "return x / 2 / y; // d\nreturn /x/.test(s); // r";
        assert_eq!(strip(src), "return x / 2 / y;\nreturn /x/.test(s);");
    }

    #[test]
    fn a_comment_inside_a_line_still_separates_tokens() {
        assert_eq!(strip("return/* x */a;"), "return a;");
    }
}
