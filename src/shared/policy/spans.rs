//! Where each statement of a policy document starts and ends, as 1-based
//! `line:column` (characters), for output that points into the file (the
//! IAM simulator's `StartPosition`/`EndPosition`). A light scan of the
//! JSON structure: it assumes a document that [`super::raw::parse`]
//! accepted, and returns nothing useful for one it did not.

/// A statement's first (`{`) and last (`}`) character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// `(line, column)` of the opening brace.
    pub start: (usize, usize),
    /// `(line, column)` of the closing brace.
    pub end: (usize, usize),
}

/// The spans of the statements of `text`, in document order (one for a
/// `Statement` written as a single object).
pub fn statement_spans(text: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    let (mut line, mut column) = (1usize, 0usize);
    let mut depth = 0usize;
    let (mut in_string, mut escaped) = (false, false);
    let mut string = String::new();
    let mut last_string: Option<String> = None;
    let mut statement_value_next = false;
    // Depth at which statement objects open: 2 for a single object, 3 for
    // the elements of an array.
    let mut statement_depth: Option<usize> = None;
    let mut start: Option<(usize, usize)> = None;
    for c in text.chars() {
        if c == '\n' {
            line += 1;
            column = 0;
        } else {
            column += 1;
        }
        if in_string {
            if escaped {
                escaped = false;
                string.push(c);
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
                if depth == 1 {
                    last_string = Some(std::mem::take(&mut string));
                }
            } else {
                string.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                string.clear();
            }
            ':' if depth == 1 => {
                statement_value_next = last_string.take().as_deref() == Some("Statement");
            }
            ',' if depth == 1 => statement_value_next = false,
            '{' | '[' => {
                depth += 1;
                if statement_value_next && depth == 2 {
                    statement_value_next = false;
                    if c == '[' {
                        statement_depth = Some(3);
                    } else {
                        statement_depth = Some(2);
                        start = Some((line, column));
                    }
                } else if c == '{' && statement_depth == Some(depth) && depth == 3 {
                    start = Some((line, column));
                }
            }
            '}' | ']' => {
                if statement_depth == Some(depth)
                    && c == '}'
                    && let Some(s) = start.take()
                {
                    spans.push(Span {
                        start: s,
                        end: (line, column),
                    });
                }
                depth = depth.saturating_sub(1);
                if depth < 2 {
                    statement_depth = None;
                }
            }
            _ => {}
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_and_single_statements() {
        let text = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Sid\": \"A\", \"Condition\": {\"StringEquals\": {\"k\": \"}\"}}},\n    {\n      \"Sid\": \"B\"\n    }\n  ]\n}\n";
        let spans = statement_spans(text);
        assert_eq!(
            spans,
            vec![
                Span {
                    start: (4, 5),
                    end: (4, 59)
                },
                Span {
                    start: (5, 5),
                    end: (7, 5)
                }
            ]
        );
        let one = r#"{"Statement": {"Effect": "Allow"}, "Id": "x"}"#;
        assert_eq!(
            statement_spans(one),
            vec![Span {
                start: (1, 15),
                end: (1, 33)
            }]
        );
        // A "Statement" key deeper down is not the document's.
        assert!(statement_spans(r#"{"Id": {"Statement": [{}]}}"#).is_empty());
    }
}
