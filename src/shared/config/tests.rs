//! Tests of the configuration loader: the documented example, and an error
//! with a precise location for each kind of mistake.

use std::path::Path;

use super::*;

const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Pull","Effect":"Allow","Action":"codecommit:GitPull","Resource":"*"}]}"#;
const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}"#;

const EXAMPLE: &str = r#"
[server]
listen = "127.0.0.1:0"
region = "eu-west-1"
state_dir = "state"
max_clock_skew_secs = 300

[backend]
repos = "repos"

[[accounts]]
id = "111122223333"

[[accounts.users]]
name = "alice"
groups = ["developers"]
policies = ["policies/alice.json"]
tags = { team = "web" }
access_keys = [{ id = "AKIAEXAMPLEALICE0001", secret = "alice-secret-0123456789" }]

[[accounts.users]]
name = "bob"
access_keys = [{ id = "AKIAEXAMPLEBOB000001", secret = "bob-secret-0123456789", status = "Inactive" }]

[[accounts.groups]]
name = "developers"
policies = ["policies/developers.json"]

[[accounts.roles]]
name = "deployer"
trust_policy = "policies/deployer-trust.json"
policies = ["policies/developers.json"]
max_session_duration = 7200
"#;

fn dir_with_policies() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    for name in ["alice", "developers"] {
        std::fs::write(dir.path().join(format!("policies/{name}.json")), POLICY).unwrap();
    }
    std::fs::write(dir.path().join("policies/deployer-trust.json"), TRUST).unwrap();
    dir
}

fn load_text(dir: &Path, text: &str) -> Result<Config, ConfigError> {
    let path = dir.join("gitiam.toml");
    std::fs::write(&path, text).unwrap();
    load(&path)
}

fn error_of(text: &str) -> String {
    let dir = dir_with_policies();
    let err = load_text(dir.path(), text).unwrap_err().to_string();
    let prefix = format!("{}/", dir.path().display());
    err.replace(&prefix, "")
}

#[test]
fn loads_the_documented_example() {
    let dir = dir_with_policies();
    let config = load_text(dir.path(), EXAMPLE).unwrap();
    assert_eq!(config.server.region, "eu-west-1");
    assert_eq!(config.server.state_dir, dir.path().join("state"));
    assert_eq!(
        config.server.audit,
        AuditSink::File(dir.path().join("state/audit.jsonl"))
    );
    assert_eq!(config.server.max_clock_skew, Duration::from_secs(300));
    assert!(config.server.tls.is_none());
    match &config.backend.target {
        BackendTarget::Embedded { repos, .. } => assert_eq!(repos, &dir.path().join("repos")),
        other => panic!("{other:?}"),
    }
    let (alice, secret) = config.directory.access_key("AKIAEXAMPLEALICE0001").unwrap();
    assert_eq!(secret.expose(), "alice-secret-0123456789");
    assert_eq!(alice.arn, "arn:aws:iam::111122223333:user/alice");
    assert_eq!(alice.policies.len(), 2, "own policy, then the group's");
    assert_eq!(alice.groups, vec!["developers".to_string()]);
    assert_eq!(alice.tags.get("team").map(String::as_str), Some("web"));
    assert!(alice.user_id.starts_with("AIDA"));
    // Inactive keys do not authenticate.
    assert!(
        config
            .directory
            .access_key("AKIAEXAMPLEBOB000001")
            .is_none()
    );
    assert!(config.directory.user("111122223333", "bob").is_some());
    let role = config
        .directory
        .role_by_arn("arn:aws:iam::111122223333:role/deployer")
        .unwrap();
    assert_eq!(role.max_session_duration, 7200);
    assert!(role.role_id.starts_with("AROA"));
    assert!(config.directory.oidc_providers("111122223333").is_empty());
    // The config and each distinct policy file are watched once.
    assert_eq!(config.files.len(), 4, "{:?}", config.files);
    let debug = format!("{config:?}");
    assert!(!debug.contains("alice-secret"), "{debug}");
}

#[test]
fn secrets_from_the_environment() {
    // Edition 2024 makes `set_var` unsafe (and the crate forbids unsafe), so
    // the positive case uses a variable Cargo sets for every test run.
    let dir = dir_with_policies();
    let text = r#"
[[accounts]]
id = "111122223333"
[[accounts.users]]
name = "ci"
access_keys = [{ id = "AKIAEXAMPLECI0000001", secret_env = "CARGO_PKG_DESCRIPTION" }]
"#;
    let config = load_text(dir.path(), text).unwrap();
    let (_, secret) = config.directory.access_key("AKIAEXAMPLECI0000001").unwrap();
    assert_eq!(
        secret.expose(),
        std::env::var("CARGO_PKG_DESCRIPTION").unwrap()
    );
    let dir = dir_with_policies();
    let text = r#"
[[accounts]]
id = "111122223333"
[[accounts.users]]
name = "ci"
access_keys = [{ id = "AKIAEXAMPLECI0000001", secret_env = "GITIAM_TEST_SURELY_UNSET_VARIABLE" }]
"#;
    let err = load_text(dir.path(), text).unwrap_err().to_string();
    assert!(err.ends_with("gitiam.toml:6:60: secret_env: environment variable GITIAM_TEST_SURELY_UNSET_VARIABLE is not set"), "{err}");
}

#[test]
fn syntax_and_unknown_fields_have_locations() {
    let err = error_of("[server]\nlisten = \"127.0.0.1:0\"\nregoin = \"x\"\n");
    assert!(
        err.starts_with("gitiam.toml:3:1: unknown field `regoin`"),
        "{err}"
    );
    let err = error_of("[server\n");
    assert!(err.starts_with("gitiam.toml:1:"), "{err}");
    let err = error_of(
        "[[accounts]]\nid = \"111122223333\"\n[[accounts.users]]\nname = \"a\"\npolices = []\n",
    );
    assert!(
        err.starts_with("gitiam.toml:5:1: unknown field `polices`"),
        "{err}"
    );
}

#[test]
fn semantic_errors_have_locations() {
    let cases: &[(&str, &str)] = &[
        (
            "[[accounts]]\nid = \"12345\"\n",
            "gitiam.toml:2:6: account id `12345` must be 12 digits",
        ),
        (
            "[[accounts]]\nid = \"111122223333\"\n[[accounts.users]]\nname = \"a\"\ngroups = [\"nope\"]\n",
            "gitiam.toml:5:11: unknown group `nope` in account 111122223333",
        ),
        (
            "[[accounts]]\nid = \"111122223333\"\n[[accounts.users]]\nname = \"a\"\naccess_keys = [{ id = \"AKIAEXAMPLEDUP000001\", secret = \"0123456789abcdef\" }]\n[[accounts]]\nid = \"444455556666\"\n[[accounts.users]]\nname = \"b\"\naccess_keys = [{ id = \"AKIAEXAMPLEDUP000001\", secret = \"0123456789abcdef\" }]\n",
            "gitiam.toml:10:23: access key AKIAEXAMPLEDUP000001 is defined twice",
        ),
        (
            "[[accounts]]\nid = \"111122223333\"\n[[accounts.users]]\nname = \"a\"\n[[accounts.users]]\nname = \"A\"\n",
            "gitiam.toml:6:8: user `A` is defined twice in account 111122223333",
        ),
        (
            "[[accounts]]\nid = \"111122223333\"\n[[accounts.users]]\nname = \"a b\"\n",
            "gitiam.toml:4:8: user name `a b` must be 1-64 of letters, digits and +=,.@_-",
        ),
        (
            "[[accounts]]\nid = \"111122223333\"\n[[accounts.groups]]\nname = \"g\"\n[[accounts.groups]]\nname = \"G\"\n",
            "gitiam.toml:6:8: group `G` is defined twice in account 111122223333",
        ),
        (
            "[[accounts]]\nid = \"111122223333\"\n[[accounts.groups]]\nname = \"\"\n",
            "gitiam.toml:4:8: group name `` must be 1-128 of letters, digits and +=,.@_-",
        ),
        (
            "[[accounts]]\nid = \"111122223333\"\n[[accounts.roles]]\nname = \"r/x\"\ntrust_policy = \"t.json\"\n",
            "gitiam.toml:4:8: role name `r/x` must be 1-64 of letters, digits and +=,.@_-",
        ),
        (
            "[[accounts]]\nid = \"111122223333\"\n[[accounts.users]]\nname = \"a\"\naccess_keys = [{ id = \"ASIAEXAMPLE000000001\", secret = \"0123456789abcdef\" }]\n",
            "gitiam.toml:5:23: access key id `ASIAEXAMPLE000000001` must be AKIA",
        ),
        (
            "[[accounts]]\nid = \"111122223333\"\n[[accounts.users]]\nname = \"a\"\npolicies = [\"policies/missing.json\"]\n",
            "gitiam.toml:5:13: cannot read policy file",
        ),
        (
            "[server]\ntls_cert = \"c.pem\"\n",
            "gitiam.toml:2:12: tls_cert and tls_key must be set together",
        ),
        (
            "[server]\nlisten = \"localhost\"\n",
            "gitiam.toml:2:10: listen: `localhost` is not an address",
        ),
        (
            "[backend]\nrepos = \"r\"\nupstream = \"http://x/{repo}\"\n",
            "gitiam.toml:2:9: set either backend.repos or backend.upstream",
        ),
        (
            "[backend]\nupstream = \"ftp://x/{repo}\"\n",
            "gitiam.toml:2:12: upstream: expected an http:// or https:// URL",
        ),
        (
            "[backend]\nupstream = \"http://x/{repo}\"\nupstream_auth_header = { name = \"Authorization\", value_env = \"GITIAM_TEST_SURELY_UNSET_VARIABLE\" }\n",
            "gitiam.toml:3:24: upstream_auth_header: environment variable GITIAM_TEST_SURELY_UNSET_VARIABLE is not set",
        ),
        (
            "[[accounts]]\nid = \"111122223333\"\n[[accounts.roles]]\nname = \"r\"\ntrust_policy = \"policies/deployer-trust.json\"\nmax_session_duration = 60\n",
            "gitiam.toml:6:24: max_session_duration must be between 3600 and 43200",
        ),
        (
            "[server]\nmax_connections = 0\n",
            "gitiam.toml:2:19: must be greater than 0",
        ),
        (
            "[[accounts]]\nid = \"111122223333\"\n[[accounts.users]]\nname = \"a\"\naccess_keys = [{ id = \"AKIAEXAMPLESTATUS001\", secret = \"0123456789abcdef\", status = \"Enabled\" }]\n",
            "gitiam.toml:5:85: status `Enabled` must be \"Active\" or \"Inactive\"",
        ),
    ];
    for (text, want) in cases {
        let err = error_of(text);
        assert!(err.starts_with(want), "want {want:?}\n got {err:?}");
    }
}

#[test]
fn upstream_with_header() {
    let dir = dir_with_policies();
    let config = load_text(
        dir.path(),
        "[backend]\nupstream = \"https://git.example.com/{account}/{repo}.git\"\nupstream_auth_header = { name = \"Authorization\", value = \"Basic Zm9vOmJhcg==\" }\n",
    )
    .unwrap();
    match &config.backend.target {
        BackendTarget::Upstream {
            url,
            auth_header: Some(h),
            ca: None,
        } => {
            assert_eq!(url, "https://git.example.com/{account}/{repo}.git");
            assert_eq!(h.name, http::header::AUTHORIZATION);
            assert_eq!(h.value.expose(), "Basic Zm9vOmJhcg==");
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{config:?}").contains("Zm9v"));
}

#[test]
fn line_columns() {
    assert_eq!(line_column("abc", 0), (1, 1));
    assert_eq!(line_column("ab\ncd", 4), (2, 2));
    assert_eq!(line_column("é\nx", 3), (2, 1));
}

#[test]
fn checking_needs_no_secrets_from_the_environment() {
    let dir = dir_with_policies();
    let text = r#"
[backend]
upstream = "https://git.example.com/{repo}.git"
upstream_auth_header = { name = "Authorization", value_env = "GITIAM_TEST_SURELY_UNSET_HEADER" }

[[accounts]]
id = "111122223333"
[[accounts.users]]
name = "ci"
access_keys = [{ id = "AKIAEXAMPLECI0000001", secret_env = "GITIAM_TEST_SURELY_UNSET_KEY" }]

[[webhooks]]
name = "ci"
url = "https://hooks.example.com/"
secret_env = "GITIAM_TEST_SURELY_UNSET_HOOK"
"#;
    let path = dir.path().join("gitiam.toml");
    // Checked: every reference names a variable; none is read.
    let config = check_str(&path, dir.path(), text).unwrap();
    assert!(
        config
            .directory
            .access_key("AKIAEXAMPLECI0000001")
            .is_some()
    );
    assert_eq!(config.webhooks.len(), 1);
    // Loaded: each unset variable is an error, the first one found first.
    let err = load_str(&path, dir.path(), text).unwrap_err().to_string();
    assert!(
        err.ends_with(
            "upstream_auth_header: environment variable GITIAM_TEST_SURELY_UNSET_HEADER is not set"
        ),
        "{err}"
    );
    let without_header = text.replace(
        "upstream_auth_header = { name = \"Authorization\", value_env = \"GITIAM_TEST_SURELY_UNSET_HEADER\" }\n",
        "",
    );
    let err = load_str(&path, dir.path(), &without_header)
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("secret_env: environment variable GITIAM_TEST_SURELY_UNSET_KEY is not set"),
        "{err}"
    );
    let hook_only = without_header.replace(
        "secret_env = \"GITIAM_TEST_SURELY_UNSET_KEY\"",
        "secret = \"ci-secret-0123456789abcdef\"",
    );
    let err = load_str(&path, dir.path(), &hook_only)
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("environment variable GITIAM_TEST_SURELY_UNSET_HOOK is not set"),
        "{err}"
    );
    // Everything else is checked as before: neither or both of secret and
    // secret_env, a bad id.
    for (edit, message) in [
        (
            ("secret_env = \"GITIAM_TEST_SURELY_UNSET_KEY\"", ""),
            "access key AKIAEXAMPLECI0000001: set exactly one of secret and secret_env",
        ),
        (
            (
                "secret_env = \"GITIAM_TEST_SURELY_UNSET_KEY\"",
                "secret_env = \"GITIAM_TEST_SURELY_UNSET_KEY\", secret = \"ci-secret-0123456789abcdef\"",
            ),
            "access key AKIAEXAMPLECI0000001: set exactly one of secret and secret_env",
        ),
        (
            ("AKIAEXAMPLECI0000001", "AKIAexample"),
            "access key id `AKIAexample` must be AKIA",
        ),
        (
            ("secret_env = \"GITIAM_TEST_SURELY_UNSET_HOOK\"", ""),
            "webhook `ci`: set exactly one of secret and secret_env",
        ),
    ] {
        let bad = text.replace(edit.0, edit.1);
        let err = check_str(&path, dir.path(), &bad).unwrap_err().to_string();
        assert!(err.contains(message), "{bad}\n{err}");
    }
}
