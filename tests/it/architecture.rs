//! The module graph of `src/`, read from the source: every `crate::`,
//! `super::` and `self::` path (use trees expanded) becomes an edge between
//! the modules that own the two files. Checked: no module imports from a
//! higher floor or from the other side (client vs server), and no cycle
//! between modules, nor between the files of the policy engine.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Floors, lowest first: a module may import from its own floor and the
/// ones below. The longest matching prefix decides.
const FLOORS: &[(&str, u32)] = &[
    ("shared::secret_file", 0),
    ("shared::policy", 0),
    ("shared::sigv4", 0),
    ("shared::git", 0),
    ("shared::config", 1),
    ("shared", 2),
    ("client", 3),
    ("server::session", 3),
    ("server::body", 3),
    ("server::audit", 3),
    ("server::metrics", 3),
    ("server::throttle", 3),
    ("server::connections", 3),
    ("server::tls", 3),
    ("server::proxy_protocol", 3),
    ("server::identity", 4),
    ("server::backend", 4),
    ("server::access", 5),
    ("server::events", 5),
    ("server::sts", 6),
    ("server::state", 7),
    ("server::reload", 8),
    ("server::review", 8),
    ("server::https", 9),
    ("server::ssh", 9),
    ("server", 10),
    ("cli", 11),
    ("", 12),
];

/// Modules that never import from each other: the two sides, and the two
/// front doors (siblings on one floor, both built on the access core).
const SIDES: &[(&str, &str)] = &[
    ("client", "server"),
    ("server", "client"),
    ("server::https", "server::ssh"),
    ("server::ssh", "server::https"),
];

fn floor(module: &str) -> u32 {
    FLOORS
        .iter()
        .filter(|(prefix, _)| {
            prefix.is_empty() || module == *prefix || module.starts_with(&format!("{prefix}::"))
        })
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, f)| *f)
        .unwrap()
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "bin") {
                rs_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/server/access/git.rs` -> `["server", "access", "git"]`; a `mod.rs`
/// is its folder's module, `lib.rs` the crate root.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The source without its `#[cfg(test)]` modules: the layering is about
/// what the program is built from; a unit test may set up its fixtures with
/// a sibling's help.
fn without_test_modules(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        let after = &rest[at + "#[cfg(test)]".len()..];
        // Other attributes may stand between it and `mod`.
        let mut item = after.trim_start();
        while let Some(attr) = item.strip_prefix("#[") {
            item = attr.split_once(']').map_or("", |(_, r)| r).trim_start();
        }
        if !item.starts_with("mod ") {
            out.push_str(&rest[..at + "#[cfg(test)]".len()]);
            rest = after;
            continue;
        }
        out.push_str(&rest[..at]);
        let Some(open) = after.find('{') else {
            return out;
        };
        let mut depth = 0;
        let mut end = after.len();
        for (i, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The source without comments and string literals (doc links and
/// messages name modules without importing them).
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = ' ';
        let mut kept = String::new();
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if !in_str && c == '/' && chars.get(i + 1) == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            } else if !in_str {
                kept.push(c);
            }
            prev = c;
            i += 1;
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// Expands a use tree (`crate::a::{b, c::{d, e}}`) into its paths.
fn expand_use(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap()];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand_use(&format!("{prefix}{p}")))
        .collect()
}

/// Every path that starts with `crate::`, `super::` or `self::`, resolved
/// to segments below the crate root.
fn references(module: &[String], code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut rest = code;
    // use trees first, then any other path in the code.
    while let Some(i) = rest.find("use ") {
        let after = &rest[i + 4..];
        let end = after.find(';').unwrap_or(after.len());
        let tree = &after[..end];
        let starts = ["crate::", "super::", "self::"];
        if starts.iter().any(|s| tree.trim_start().starts_with(s)) {
            paths.extend(expand_use(tree));
        }
        rest = &after[end..];
    }
    let bytes = code.as_bytes();
    for start in ["crate::", "super::"] {
        for (i, _) in code.match_indices(start) {
            let boundary =
                i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
            if !boundary || (i >= 1 && bytes[i - 1] == b':') {
                continue;
            }
            let path: String = code[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            paths.push(path);
        }
    }
    paths
        .into_iter()
        .filter_map(|p| {
            let segs: Vec<&str> = p.split("::").filter(|s| !s.is_empty()).collect();
            let mut base: Vec<String> = match segs.first() {
                Some(&"crate") => Vec::new(),
                Some(&"super") | Some(&"self") => module.to_vec(),
                _ => return None,
            };
            let mut iter = segs.iter().peekable();
            if segs.first() == Some(&"crate") {
                iter.next();
            }
            while let Some(s) = iter.peek() {
                match **s {
                    "super" => {
                        base.pop();
                        iter.next();
                    }
                    "self" => {
                        iter.next();
                    }
                    _ => break,
                }
            }
            base.extend(iter.map(|s| s.to_string()));
            Some(base)
        })
        .collect()
}

struct Graph {
    /// Module (file) -> modules it names.
    files: BTreeMap<String, BTreeSet<String>>,
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    let modules: BTreeSet<String> = files
        .iter()
        .map(|f| module_of(&src, f).join("::"))
        .collect();
    let mut edges = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        let code = without_test_modules(&code_only(&std::fs::read_to_string(file).unwrap()));
        let mut targets = BTreeSet::new();
        for path in references(&module, &code) {
            // The longest prefix of the path that is a module (file).
            let target = (0..=path.len())
                .rev()
                .map(|n| path[..n].join("::"))
                .find(|m| modules.contains(m));
            if let Some(t) = target {
                targets.insert(t);
            }
        }
        let name = module.join("::");
        targets.remove(&name);
        edges.insert(name, targets);
    }
    Graph { files: edges }
}

/// The unit a module belongs to for the layering and cycle checks: its
/// first two segments (`server::access::git` -> `server::access`).
fn unit(module: &str) -> String {
    module.split("::").take(2).collect::<Vec<_>>().join("::")
}

fn is_ancestor(a: &str, b: &str) -> bool {
    a.is_empty() || b.starts_with(&format!("{a}::"))
}

/// Edges between units, without the ones from a module to its own
/// ancestors' facades (`mod.rs` declaring and re-exporting its children).
fn unit_edges(g: &Graph) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in &g.files {
        for to in targets {
            let (uf, ut) = (unit(from), unit(to));
            if uf == ut || is_ancestor(from, to) || is_ancestor(to, from) {
                continue;
            }
            out.entry(uf).or_default().insert(ut);
        }
    }
    out
}

fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            match state.get(m.as_str()) {
                Some(1) => {
                    let at = stack.iter().position(|s| s == m).unwrap();
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(m, edges, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if !state.contains_key(n.as_str()) {
            let mut stack = Vec::new();
            if let Some(c) = visit(n, edges, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn the_graph_is_read_from_the_source() {
    // The checks below mean something only if the reader sees the imports.
    let g = graph();
    let access = &g.files["server::access::git"];
    assert!(access.contains("server::audit"), "{access:?}");
    assert!(access.contains("shared::git"), "{access:?}");
    assert!(access.contains("server::access::caller"), "{access:?}");
    assert!(g.files["server::https::service"].contains("server::access"));
    assert_eq!(
        expand_use("crate::a::{b, c::{d, e}}"),
        ["crate::a::b", "crate::a::c::d", "crate::a::c::e"]
    );
    let units = unit_edges(&g);
    assert!(units["server::https"].contains("server::access"));
    let stripped = without_test_modules(
        "use crate::a;\n#[cfg(test)]\n#[allow(x)]\nmod tests {\n use crate::b; fn f() { {} }\n}\nuse crate::c;\n",
    );
    assert_eq!(stripped, "use crate::a;\n\nuse crate::c;\n");
}

#[test]
fn no_module_imports_from_a_higher_floor_or_the_other_side() {
    let g = graph();
    let mut wrong = Vec::new();
    for (from, targets) in &g.files {
        for to in targets {
            if is_ancestor(to, from) || is_ancestor(from, to) {
                continue;
            }
            if floor(&unit(to)) > floor(&unit(from)) {
                wrong.push(format!(
                    "{from} (floor {}) imports {to} (floor {})",
                    floor(&unit(from)),
                    floor(&unit(to))
                ));
            }
            for (a, b) in SIDES {
                if unit(from).starts_with(a) && unit(to).starts_with(b) {
                    wrong.push(format!("{from} ({a}) imports {to} ({b})"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "upward imports:\n{}", wrong.join("\n"));
}

#[test]
fn modules_import_each_other_without_cycles() {
    let g = graph();
    let units = unit_edges(&g);
    assert_eq!(find_cycle(&units), None, "{units:#?}");
}

#[test]
fn files_import_each_other_without_cycles() {
    // Between sibling files: a folder's `mod.rs` declares and re-exports its
    // children, and they use what it defines; those edges are not cycles.
    let g = graph();
    let files: BTreeMap<String, BTreeSet<String>> = g
        .files
        .iter()
        .map(|(m, t)| {
            let siblings = t
                .iter()
                .filter(|t| !is_ancestor(m, t) && !is_ancestor(t, m))
                .cloned()
                .collect();
            (m.clone(), siblings)
        })
        .collect();
    assert!(
        files
            .keys()
            .filter(|m| m.starts_with("shared::policy::"))
            .count()
            > 5,
        "{files:?}"
    );
    assert_eq!(find_cycle(&files), None, "{files:#?}");
}
