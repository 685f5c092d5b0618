//! Property tests of the wildcard matcher against a simple reference
//! (dynamic programming over characters), including the patterns that make
//! naive backtracking matchers exponential (`*a*a*a*a*b` on long runs of
//! `a`). Correctness only: timing belongs to the benchmark.

use gitiam::shared::policy::matcher::Wildcard;
use proptest::prelude::*;

/// `dp[i][j]`: pattern[i..] matches text[j..].
fn reference(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let mut dp = vec![vec![false; t.len() + 1]; p.len() + 1];
    dp[p.len()][t.len()] = true;
    for i in (0..p.len()).rev() {
        for j in (0..=t.len()).rev() {
            dp[i][j] = match p[i] {
                '*' => dp[i + 1][j] || (j < t.len() && dp[i][j + 1]),
                '?' => j < t.len() && dp[i + 1][j + 1],
                c => j < t.len() && t[j] == c && dp[i + 1][j + 1],
            };
        }
    }
    dp[0][0]
}

fn pattern_strategy() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("a"),
            Just("b"),
            Just("é"),
            Just("*"),
            Just("?"),
            Just(":"),
            Just("/")
        ],
        0..14,
    )
    .prop_map(|v| v.concat())
}

fn text_strategy() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![Just("a"), Just("b"), Just("é"), Just(":"), Just("/")],
        0..40,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn matches_reference(pattern in pattern_strategy(), text in text_strategy()) {
        prop_assert_eq!(Wildcard::new(&pattern).matches(&text), reference(&pattern, &text));
    }

    #[test]
    fn ignore_case_matches_reference_on_lowercase(pattern in "[aAbB*?:]{0,12}", text in "[aAbB:]{0,30}") {
        prop_assert_eq!(
            Wildcard::new_ignore_case(&pattern).matches(&text),
            reference(&pattern.to_ascii_lowercase(), &text.to_ascii_lowercase())
        );
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn pathological_patterns_on_long_texts(stars in 1usize..8, len in 0usize..3000, tail in prop_oneof![Just("a"), Just("b"), Just("")]) {
        let pattern = format!("{}b", "*a".repeat(stars));
        let text = format!("{}{}", "a".repeat(len), tail);
        prop_assert_eq!(Wildcard::new(&pattern).matches(&text), reference(&pattern, &text));
    }

    #[test]
    fn a_text_matches_itself_and_star(text in text_strategy()) {
        let escaped_free = !text.contains(['*', '?']);
        prop_assume!(escaped_free);
        prop_assert!(Wildcard::new(&text).matches(&text));
        prop_assert!(Wildcard::new("*").matches(&text));
        let star_in_middle = format!("{}*", text.chars().take(3).collect::<String>());
        prop_assert!(Wildcard::new(&star_in_middle).matches(&text));
    }
}

#[test]
fn very_long_pathological_text() {
    let text = "a".repeat(200_000);
    let pattern = "*a*a*a*a*a*a*a*a*a*a*b";
    assert!(!Wildcard::new(pattern).matches(&text));
    assert!(Wildcard::new(&pattern.replace('b', "a")).matches(&text));
    let with_b = format!("{text}b");
    assert!(Wildcard::new(pattern).matches(&with_b));
}
