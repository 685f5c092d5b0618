//! The AWS shared config and credentials files (`~/.aws/config`,
//! `~/.aws/credentials`), parsed as botocore reads them: `[profile NAME]`
//! (and `[default]`) in the config file, `[NAME]` in the credentials file
//! (whose values win), `[sso-session NAME]` sections (IAM Identity Center
//! sign-in settings), `[services NAME]` sections with nested properties
//! (`sts =` followed by indented `endpoint_url = ...` lines), `#` and `;`
//! comment lines, keys case-insensitive. Errors name the file and line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A syntax error in a shared file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{}:{line}: {message}", path.display())]
pub struct ConfigFileError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// One property value, with its nested sub-properties when the value was
/// empty and indented `key = value` lines followed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Value {
    /// The value on the key's own line (plus continuation lines).
    pub value: String,
    /// Nested `key = value` pairs (keys lowercased).
    pub nested: Vec<(String, String)>,
}

/// One profile's properties (keys lowercased). `Debug` lists only the keys.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// The profile name.
    pub name: String,
    props: HashMap<String, Value>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut keys: Vec<&String> = self.props.keys().collect();
        keys.sort();
        f.debug_struct("Profile")
            .field("name", &self.name)
            .field("keys", &keys)
            .finish()
    }
}

impl Profile {
    /// A profile with no properties.
    pub fn empty(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            props: HashMap::new(),
        }
    }

    /// A non-empty property value, trimmed.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.props
            .get(&key.to_ascii_lowercase())
            .map(|v| v.value.trim())
            .filter(|v| !v.is_empty())
    }

    /// A nested property (`key =` then indented `sub = value`).
    pub fn nested(&self, key: &str, sub: &str) -> Option<&str> {
        let v = self.props.get(&key.to_ascii_lowercase())?;
        v.nested
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(sub))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// All profiles and `services` sections from both files.
#[derive(Debug, Clone, Default)]
pub struct SharedConfig {
    profiles: HashMap<String, Profile>,
    services: HashMap<String, Profile>,
    sso_sessions: HashMap<String, Profile>,
}

impl SharedConfig {
    /// Loads the config and credentials files. A missing file is the same as
    /// an empty one (as in botocore); an unreadable or malformed one is an
    /// error.
    pub fn load(
        config: Option<&Path>,
        credentials: Option<&Path>,
    ) -> Result<Self, ConfigFileError> {
        let mut out = SharedConfig::default();
        if let Some(path) = config
            && let Some(text) = read_optional(path)?
        {
            out.merge_config(path, &text)?;
        }
        if let Some(path) = credentials
            && let Some(text) = read_optional(path)?
        {
            out.merge_credentials(path, &text)?;
        }
        Ok(out)
    }

    /// Adds a config file's sections.
    pub fn merge_config(&mut self, path: &Path, text: &str) -> Result<(), ConfigFileError> {
        for section in parse_ini(path, text)? {
            let mut words = section.header.split_whitespace();
            let (first, second, rest) = (words.next(), words.next(), words.next());
            let (map, name) = match (first, second, rest) {
                (Some("default"), None, _) => (&mut self.profiles, "default"),
                (Some("profile"), Some(name), None) => (&mut self.profiles, name),
                (Some("services"), Some(name), None) => (&mut self.services, name),
                (Some("sso-session"), Some(name), None) => (&mut self.sso_sessions, name),
                // `[foo]` and others are not profiles in the config file;
                // botocore ignores them too.
                _ => continue,
            };
            merge_into(map, name, section.props);
        }
        Ok(())
    }

    /// Adds a credentials file's sections (`[NAME]`, no `profile ` prefix).
    pub fn merge_credentials(&mut self, path: &Path, text: &str) -> Result<(), ConfigFileError> {
        for section in parse_ini(path, text)? {
            let name = section.header.trim().to_owned();
            merge_into(&mut self.profiles, &name, section.props);
        }
        Ok(())
    }

    /// The named profile.
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.get(name)
    }

    /// The `[sso-session NAME]` section.
    pub fn sso_session(&self, name: &str) -> Option<&Profile> {
        self.sso_sessions.get(name)
    }

    /// `endpoint_url` for `service` from the profile's `services` section.
    pub fn service_endpoint(&self, profile: &Profile, service: &str) -> Option<&str> {
        let section = self.services.get(profile.get("services")?)?;
        section.nested(service, "endpoint_url")
    }

    /// Names of all profiles, sorted (for error messages).
    pub fn profile_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

fn merge_into(map: &mut HashMap<String, Profile>, name: &str, props: HashMap<String, Value>) {
    let entry = map.entry(name.to_owned()).or_insert_with(|| Profile {
        name: name.to_owned(),
        props: HashMap::new(),
    });
    entry.props.extend(props);
}

fn read_optional(path: &Path) -> Result<Option<String>, ConfigFileError> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| ConfigFileError {
                path: path.to_owned(),
                line: 0,
                message: "not valid UTF-8".into(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ConfigFileError {
            path: path.to_owned(),
            line: 0,
            message: format!("cannot read: {}", e.kind()),
        }),
    }
}

struct Section {
    header: String,
    props: HashMap<String, Value>,
}

/// The INI dialect of the AWS files.
fn parse_ini(path: &Path, text: &str) -> Result<Vec<Section>, ConfigFileError> {
    let err = |line: usize, message: &str| ConfigFileError {
        path: path.to_owned(),
        line,
        message: message.to_owned(),
    };
    let mut sections: Vec<Section> = Vec::new();
    let mut last_key: Option<String> = None;
    for (idx, raw) in text.lines().enumerate() {
        let line_no = idx + 1;
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let indented = line.len() != trimmed.len();
        if indented && !trimmed.starts_with('[') {
            // Continuation of the previous property: nested `k = v` when the
            // property's own value was empty, otherwise more value text.
            let (Some(section), Some(key)) = (sections.last_mut(), last_key.as_ref()) else {
                return Err(err(line_no, "indented line outside a property"));
            };
            let Some(prop) = section.props.get_mut(key) else {
                return Err(err(line_no, "indented line outside a property"));
            };
            if prop.value.trim().is_empty() {
                let (k, v) = trimmed
                    .split_once('=')
                    .ok_or_else(|| err(line_no, "expected `key = value` in a nested property"))?;
                prop.nested
                    .push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            } else {
                prop.value.push('\n');
                prop.value.push_str(trimmed);
            }
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let (header, after) = rest
                .split_once(']')
                .ok_or_else(|| err(line_no, "section header without `]`"))?;
            let after = after.trim();
            if !(after.is_empty() || after.starts_with('#') || after.starts_with(';')) {
                return Err(err(line_no, "unexpected text after section header"));
            }
            let header = header.trim();
            if header.is_empty() {
                return Err(err(line_no, "empty section name"));
            }
            sections.push(Section {
                header: header.to_owned(),
                props: HashMap::new(),
            });
            last_key = None;
            continue;
        }
        let (key, value) = trimmed
            .split_once('=')
            .ok_or_else(|| err(line_no, "expected `key = value` or `[section]`"))?;
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() {
            return Err(err(line_no, "property without a name"));
        }
        let Some(section) = sections.last_mut() else {
            return Err(err(line_no, "property before any [section]"));
        };
        section.props.insert(
            key.clone(),
            Value {
                value: value.trim().to_owned(),
                nested: Vec::new(),
            },
        );
        last_key = Some(key);
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
# comment
[default]
region = us-west-2
; another comment

[profile dev]
Role_Arn = arn:aws:iam::111122223333:role/deployer
source_profile = default
services = local
ca_bundle = /tmp/ca.pem

[services local]
sts =
  endpoint_url = https://127.0.0.1:8443
codecommit =
  endpoint_url = https://other

[sso-session x]
sso_region = us-east-1

[notaprofile]
aws_access_key_id = IGNORED
";

    const CREDENTIALS: &str = "\
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = secret/default
[dev]
region = eu-west-1
";

    fn load() -> SharedConfig {
        let mut c = SharedConfig::default();
        c.merge_config(Path::new("config"), CONFIG).unwrap();
        c.merge_credentials(Path::new("credentials"), CREDENTIALS)
            .unwrap();
        c
    }

    #[test]
    fn profiles_services_and_precedence() {
        let c = load();
        let d = c.profile("default").unwrap();
        assert_eq!(d.get("region"), Some("us-west-2"));
        assert_eq!(d.get("AWS_ACCESS_KEY_ID"), Some("AKIDDEFAULT"));
        let dev = c.profile("dev").unwrap();
        assert_eq!(
            dev.get("role_arn"),
            Some("arn:aws:iam::111122223333:role/deployer")
        );
        assert_eq!(dev.get("region"), Some("eu-west-1"));
        assert_eq!(
            c.service_endpoint(dev, "sts"),
            Some("https://127.0.0.1:8443")
        );
        assert_eq!(c.service_endpoint(dev, "iam"), None);
        assert_eq!(c.service_endpoint(d, "sts"), None);
        assert!(c.profile("notaprofile").is_none());
        assert_eq!(
            c.sso_session("x").and_then(|s| s.get("sso_region")),
            Some("us-east-1")
        );
        assert!(c.sso_session("dev").is_none() && c.profile("x").is_none());
        assert_eq!(c.profile_names(), vec!["default", "dev"]);
        assert!(!format!("{d:?}").contains("secret/default"));
    }

    #[test]
    fn errors_name_file_and_line() {
        let mut c = SharedConfig::default();
        let e = c
            .merge_config(Path::new("/x/config"), "[default]\nregion us-east-1\n")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "/x/config:2: expected `key = value` or `[section]`"
        );
        let e = c.merge_config(Path::new("c"), "region = x\n").unwrap_err();
        assert_eq!(e.line, 1);
        let e = c.merge_config(Path::new("c"), "[default\n").unwrap_err();
        assert_eq!(e.message, "section header without `]`");
        let e = c
            .merge_config(Path::new("c"), "[services s]\nsts =\n  nonsense\n")
            .unwrap_err();
        assert_eq!(e.line, 3);
    }

    #[test]
    fn profile_default_alias_and_missing_files() {
        let mut c = SharedConfig::default();
        c.merge_config(Path::new("c"), "[profile default]\nregion = ap-south-1\n")
            .unwrap();
        assert_eq!(
            c.profile("default").unwrap().get("region"),
            Some("ap-south-1")
        );
        let none = SharedConfig::load(
            Some(Path::new("/nonexistent/a")),
            Some(Path::new("/nonexistent/b")),
        )
        .unwrap();
        assert!(none.profile_names().is_empty());
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(text in "([\\[\\] =#;a-z\n\t]|profile |services ){0,300}") {
            let mut c = SharedConfig::default();
            let _ = c.merge_config(Path::new("c"), &text);
            let _ = c.merge_credentials(Path::new("k"), &text);
        }
    }
}
