//! The STS Query form (`gitiam::server::sts::query::parse`): a
//! form-encoded POST body with `Action`, `Version` and the parameters.
//!
//! Checked: a parsed request written back as a form parses to the same
//! request; an error never quotes the `WebIdentityToken` (a credential);
//! and every error has a message.
#![no_main]

use gitiam::server::sts::query::{StsAction, VERSION, parse};
use libfuzzer_sys::fuzz_target;

fn write_back(action: &StsAction) -> Vec<u8> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", action.name());
    form.append_pair("Version", VERSION);
    match action {
        StsAction::GetCallerIdentity => {}
        StsAction::AssumeRole(a) => {
            form.append_pair("RoleArn", &a.role_arn);
            form.append_pair("RoleSessionName", &a.role_session_name);
            if let Some(d) = a.duration_seconds {
                form.append_pair("DurationSeconds", &d.to_string());
            }
            if let Some(e) = &a.external_id {
                form.append_pair("ExternalId", e);
            }
            if let Some(p) = &a.policy {
                form.append_pair("Policy", &p.text);
            }
            if let Some(s) = &a.source_identity {
                form.append_pair("SourceIdentity", s);
            }
            for (i, (k, v)) in a.tags.iter().enumerate() {
                form.append_pair(&format!("Tags.member.{}.Key", i + 1), k);
                form.append_pair(&format!("Tags.member.{}.Value", i + 1), v);
            }
            for (i, k) in a.transitive_tag_keys.iter().enumerate() {
                form.append_pair(&format!("TransitiveTagKeys.member.{}", i + 1), k);
            }
        }
        StsAction::AssumeRoleWithWebIdentity(w) => {
            form.append_pair("RoleArn", &w.role_arn);
            form.append_pair("RoleSessionName", &w.role_session_name);
            form.append_pair("WebIdentityToken", &w.web_identity_token);
            if let Some(d) = w.duration_seconds {
                form.append_pair("DurationSeconds", &d.to_string());
            }
            if let Some(p) = &w.policy {
                form.append_pair("Policy", &p.text);
            }
        }
    }
    form.finish().into_bytes()
}

/// Another character of the same kind as `c` for the token checks
/// (printable ASCII or not) and the same UTF-8 length.
fn other_char(c: char) -> char {
    match c {
        '\u{21}'..='\u{7e}' => char::from(0x21 + (c as u8 - 0x21 + 47) % 94),
        ' ' | '\u{7f}' => '\u{1f}',
        _ => char::from_u32(u32::from(c) ^ 1).unwrap_or('\u{1}'),
    }
}

/// When `body` gives `WebIdentityToken` once and the token appears in no
/// other name or value (which errors may quote): the form, and the same
/// form with every character of the token changed for another of its kind.
fn token_variants(body: &[u8]) -> Option<(String, Vec<u8>, Vec<u8>)> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let mut tokens = pairs.iter().filter(|(k, _)| k == "WebIdentityToken");
    let (_, token) = tokens.next()?;
    if tokens.next().is_some() || token.len() < 8 {
        return None;
    }
    let elsewhere = pairs.iter().any(|(k, v)| {
        k.contains(token.as_str()) || (k != "WebIdentityToken" && v.contains(token.as_str()))
    });
    if elsewhere {
        return None;
    }
    let other: String = token.chars().map(other_char).collect();
    let form = |t: &str| {
        let mut f = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &pairs {
            f.append_pair(k, if k == "WebIdentityToken" { t } else { v });
        }
        f.finish().into_bytes()
    };
    Some((token.clone(), form(token), form(&other)))
}

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Ok(action) => {
            let form = write_back(&action);
            let again = parse(&form).expect("a written-back request parses");
            assert_eq!(
                again, action,
                "written back, the request parses differently"
            );
            if let StsAction::AssumeRoleWithWebIdentity(w) = &action {
                // Debug hides the token: it shows nothing that it would not
                // show for another token.
                let mut other = w.clone();
                other.web_identity_token = "x".repeat(w.web_identity_token.len() + 1);
                assert_eq!(
                    format!("{w:?}"),
                    format!("{other:?}"),
                    "Debug shows the token"
                );
            }
        }
        Err(e) => {
            assert!(!e.message.is_empty());
            // An error may contain the token's text only where it does not
            // come from the token: changing the token leaves it there.
            if let Some((token, form, changed)) = token_variants(data) {
                let message = |body: &[u8]| parse(body).err().map(|e| e.message);
                if let Some(m) = message(&form)
                    && m.contains(&token)
                {
                    let m2 = message(&changed).unwrap_or_default();
                    assert!(
                        m2.contains(&token),
                        "an error quotes the web identity token: {m}"
                    );
                }
            }
        }
    }
});
