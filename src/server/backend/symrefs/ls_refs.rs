//! The upstream backend's answer: a Git protocol v2 `ls-refs` request
//! with `symrefs` and one `ref-prefix` per name, and the parsing of the
//! capability advertisement and of the answer, whose `symref-target` is
//! the final target of each symbolic ref.

use bytes::{Bytes, BytesMut};

use super::RefTargets;
use crate::server::backend::BackendError;
use crate::shared::git::pktline::{self, Packet, PktReader};
use crate::shared::git::receive_pack::is_valid_ref_name;

/// Largest protocol v2 capability advertisement or `ls-refs` answer read
/// from an upstream.
pub const MAX_LS_REFS_BYTES: usize = 8 * 1024 * 1024;

/// What a protocol v2 capability advertisement offers that `ls-refs`
/// needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct V2Advertisement {
    /// `object-format=...`, echoed in the command request.
    pub object_format: Option<String>,
}

fn not_v2(msg: impl Into<String>) -> BackendError {
    BackendError::UpstreamNotV2(msg.into())
}

fn invalid(msg: impl Into<String>) -> BackendError {
    BackendError::InvalidResponse(msg.into())
}

/// Decodes a whole response body into packets; trailing bytes that do not
/// form a complete packet are an error.
fn packets(body: &[u8]) -> Result<Vec<Packet>, BackendError> {
    let mut reader = PktReader::new(body.len());
    reader
        .feed(body)
        .map_err(|e| invalid(format!("upstream answer: {e}")))?;
    let mut out = Vec::new();
    while let Some(p) = reader
        .next_packet()
        .map_err(|e| invalid(format!("upstream answer: {e}")))?
    {
        out.push(p);
    }
    if !reader.pending().is_empty() {
        return Err(invalid("upstream answer ends in an incomplete pkt-line"));
    }
    Ok(out)
}

fn line_text(data: &Bytes) -> Result<&str, BackendError> {
    let text = std::str::from_utf8(data).map_err(|_| invalid("upstream sent a non-UTF-8 line"))?;
    Ok(text.strip_suffix('\n').unwrap_or(text))
}

/// Parses the answer to `GET info/refs?service=git-upload-pack` sent with
/// `Git-Protocol: version=2`: an optional `# service=git-upload-pack` line
/// and flush (some servers send it in v2 too), then `version 2`, the
/// capabilities and a flush, and nothing after. Anything else (a v0
/// advertisement above all) is [`BackendError::UpstreamNotV2`].
pub(crate) fn parse_v2_advertisement(body: &[u8]) -> Result<V2Advertisement, BackendError> {
    let packets = packets(body).map_err(|e| not_v2(e.to_string()))?;
    let mut it = packets.iter().peekable();
    if let Some(Packet::Data(first)) = it.peek()
        && first.starts_with(b"# service=")
    {
        it.next();
        if it.next() != Some(&Packet::Flush) {
            return Err(not_v2("no flush after the service line"));
        }
    }
    match it.next() {
        Some(Packet::Data(d)) if line_text(d).ok() == Some("version 2") => {}
        _ => return Err(not_v2("the advertisement is not version 2")),
    }
    let mut ls_refs = false;
    let mut object_format = None;
    loop {
        match it.next() {
            Some(Packet::Data(d)) => {
                let cap = line_text(d).map_err(|e| not_v2(e.to_string()))?;
                let (key, value) = match cap.split_once('=') {
                    Some((k, v)) => (k, Some(v)),
                    None => (cap, None),
                };
                match key {
                    "ls-refs" => ls_refs = true,
                    "object-format" => object_format = value.map(str::to_owned),
                    _ => {}
                }
            }
            Some(Packet::Flush) => break,
            _ => {
                return Err(not_v2(
                    "the capability advertisement does not end in a flush",
                ));
            }
        }
    }
    if it.next().is_some() {
        return Err(not_v2("data after the capability advertisement"));
    }
    if !ls_refs {
        return Err(not_v2("the upstream does not offer ls-refs"));
    }
    if let Some(f) = &object_format
        && !matches!(f.as_str(), "sha1" | "sha256")
    {
        return Err(not_v2(format!("unknown object format {f:?}")));
    }
    Ok(V2Advertisement { object_format })
}

/// The `command=ls-refs` request body: `symrefs` and one `ref-prefix` per
/// name (Git's `ls-refs` treats more than 65535 prefixes as none, which
/// only makes the answer longer).
pub(crate) fn ls_refs_request(
    advert: &V2Advertisement,
    names: &[&str],
) -> Result<Bytes, BackendError> {
    let mut out = BytesMut::new();
    let write = |out: &mut BytesMut, line: &str| {
        pktline::write_data(out, line.as_bytes())
            .map_err(|e| BackendError::BadRequest(format!("ls-refs request: {e}")))
    };
    write(&mut out, "command=ls-refs\n")?;
    if let Some(format) = &advert.object_format {
        write(&mut out, &format!("object-format={format}\n"))?;
    }
    pktline::write_delim(&mut out);
    write(&mut out, "symrefs\n")?;
    for name in names {
        write(&mut out, &format!("ref-prefix {name}\n"))?;
    }
    pktline::write_flush(&mut out);
    Ok(out.freeze())
}

/// Parses an `ls-refs` answer (`OID NAME[ symref-target:T][ peeled:OID]`
/// lines, a flush, and nothing else but an optional response-end packet)
/// and returns the targets of each of `names`.
///
/// `symref-target` is the final target (Git resolves it fully). A name not
/// listed is returned as plain. Git's ref iteration leaves out symrefs that
/// do not resolve to an object, so this cannot see a *dangling* symref
/// (whose push would create its target), nor a loop or a too-deep chain
/// (which receive-pack refuses anyway), nor refs hidden from upload-pack.
pub(crate) fn parse_ls_refs(body: &[u8], names: &[&str]) -> Result<Vec<RefTargets>, BackendError> {
    let packets = packets(body)?;
    let mut it = packets.into_iter();
    let mut listed: std::collections::HashMap<String, Option<String>> =
        std::collections::HashMap::new();
    loop {
        let line = match it.next() {
            Some(Packet::Data(d)) => d,
            Some(Packet::Flush) => break,
            _ => return Err(invalid("ls-refs answer does not end in a flush")),
        };
        let text = line_text(&line)?;
        if let Some(msg) = text.strip_prefix("ERR ") {
            // The upstream's own words stay out of the public message.
            return Err(invalid(format!("upstream ls-refs error: {msg}")));
        }
        let mut fields = text.split(' ');
        let oid = fields.next().unwrap_or_default();
        if !((oid.len() == 40 || oid.len() == 64) && oid.bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(invalid("ls-refs line without an object id"));
        }
        let Some(name) = fields.next() else {
            return Err(invalid("ls-refs line without a ref name"));
        };
        let mut target = None;
        for attr in fields {
            if let Some(t) = attr.strip_prefix("symref-target:") {
                if target.is_some() || !is_valid_ref_name(t) {
                    return Err(invalid("ls-refs line with a bad symref-target"));
                }
                target = Some(t.to_owned());
            } else if !attr.starts_with("peeled:") {
                return Err(invalid("ls-refs line with an unknown attribute"));
            }
        }
        if listed.insert(name.to_owned(), target).is_some() {
            return Err(invalid("ls-refs lists a ref twice"));
        }
    }
    match it.next() {
        None => {}
        Some(Packet::ResponseEnd) if it.next().is_none() => {}
        Some(_) => return Err(invalid("data after the ls-refs answer")),
    }
    Ok(names
        .iter()
        .map(|name| match listed.get(*name) {
            Some(Some(target)) if target != name => RefTargets {
                name: (*name).to_owned(),
                targets: vec![target.clone()],
                relatives: Vec::new(),
            },
            _ => RefTargets::plain(name),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::backend::symrefs::testing::{repo, symref};
    use std::path::Path;
    use std::process::{Command, Stdio};

    /// `git upload-pack --stateless-rpc` in protocol v2, as http-backend
    /// runs it: the advertisement, or the answer to `request`.
    fn upload_pack(dir: &Path, request: Option<&[u8]>) -> Vec<u8> {
        use std::io::Write as _;
        let mut cmd = Command::new("git");
        cmd.env("GIT_PROTOCOL", "version=2")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .arg("upload-pack")
            .arg("--stateless-rpc");
        if request.is_none() {
            cmd.arg("--advertise-refs");
        }
        let mut child = cmd
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(request.unwrap_or_default()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        out.stdout
    }

    #[test]
    fn ls_refs_against_real_upload_pack() {
        let (_tmp, dir) = repo(&[]);
        symref(&dir, "refs/heads/alias", "refs/heads/main");
        symref(&dir, "refs/heads/outer", "refs/heads/alias");
        symref(&dir, "refs/heads/dangling", "refs/heads/none");
        let advert = parse_v2_advertisement(&upload_pack(&dir, None)).unwrap();
        assert_eq!(advert.object_format.as_deref(), Some("sha1"));
        let names = [
            "refs/heads/alias",
            "refs/heads/outer",
            "refs/heads/main",
            "refs/heads/dangling",
            "refs/heads/none",
        ];
        let request = ls_refs_request(&advert, &names).unwrap();
        let answer = upload_pack(&dir, Some(&request));
        let got: Vec<Vec<String>> = parse_ls_refs(&answer, &names)
            .unwrap()
            .into_iter()
            .map(RefTargets::into_refs)
            .collect();
        assert_eq!(
            got,
            [
                vec!["refs/heads/alias", "refs/heads/main"],
                // ls-refs names the final target only.
                vec!["refs/heads/outer", "refs/heads/main"],
                vec!["refs/heads/main"],
                // Invisible over the wire: Git leaves dangling symrefs out.
                vec!["refs/heads/dangling"],
                vec!["refs/heads/none"],
            ]
        );
        // Trailing garbage after the flush, or a truncated answer.
        let mut bad = answer.clone();
        bad.extend_from_slice(b"0009junk\n");
        assert!(parse_ls_refs(&bad, &names).is_err());
        bad.truncate(answer.len() - 2);
        assert!(parse_ls_refs(&bad, &names).is_err());
        assert!(parse_ls_refs(&answer[..answer.len() - 4], &names).is_err());
        // An optional response-end is fine.
        let mut ok = answer.clone();
        ok.extend_from_slice(b"0002");
        assert!(parse_ls_refs(&ok, &names).is_ok());
    }

    #[test]
    fn sha256_repositories() {
        let (_tmp, dir) = repo(&["--object-format=sha256"]);
        symref(&dir, "refs/heads/alias", "refs/heads/main");
        let advert = parse_v2_advertisement(&upload_pack(&dir, None)).unwrap();
        assert_eq!(advert.object_format.as_deref(), Some("sha256"));
        let request = ls_refs_request(&advert, &["refs/heads/alias"]).unwrap();
        let got = parse_ls_refs(&upload_pack(&dir, Some(&request)), &["refs/heads/alias"]).unwrap();
        assert_eq!(got[0].final_ref(), "refs/heads/main");
    }

    #[test]
    fn v0_advertisements_are_not_v2() {
        let (_tmp, dir) = repo(&[]);
        // What http-backend sends without Git-Protocol: the service line,
        // a flush, then the v0 ref advertisement.
        let out = Command::new("git")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(["upload-pack", "--stateless-rpc", "--advertise-refs"])
            .arg(&dir)
            .output()
            .unwrap();
        let mut v0 = b"001e# service=git-upload-pack\n0000".to_vec();
        v0.extend_from_slice(&out.stdout);
        let err = parse_v2_advertisement(&v0).unwrap_err();
        assert!(matches!(err, BackendError::UpstreamNotV2(_)), "{err:?}");
        assert!(err.public_message().contains("version 2"));
        // The service line before a v2 advertisement is accepted.
        let mut v2 = b"001e# service=git-upload-pack\n0000".to_vec();
        v2.extend_from_slice(&upload_pack(&dir, None));
        assert!(parse_v2_advertisement(&v2).is_ok());
        for bad in [
            &b""[..],
            b"000eversion 2\n",
            b"000eversion 2\n0000garbage",
            b"000eversion 2\n0000",
            b"000eversion 1\n000cls-refs\n0000",
        ] {
            assert!(
                matches!(
                    parse_v2_advertisement(bad),
                    Err(BackendError::UpstreamNotV2(_))
                ),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(parse_v2_advertisement(b"000eversion 2\n000cls-refs\n0000").is_ok());
    }

    #[test]
    fn ls_refs_lines_are_checked() {
        let names = ["refs/heads/a"];
        let body = |lines: &[&str]| {
            let mut out = BytesMut::new();
            for l in lines {
                pktline::write_data(&mut out, l.as_bytes()).unwrap();
            }
            pktline::write_flush(&mut out);
            out.to_vec()
        };
        let oid = "a".repeat(40);
        let ok = body(&[&format!(
            "{oid} refs/heads/a symref-target:refs/heads/b peeled:{oid}\n"
        )]);
        assert_eq!(
            parse_ls_refs(&ok, &names).unwrap()[0].final_ref(),
            "refs/heads/b"
        );
        for bad in [
            vec!["ERR upstream says no\n".to_owned()],
            vec!["unborn refs/heads/a\n".to_owned()],
            vec![format!("{oid}\n")],
            vec![format!("{oid} refs/heads/a symref-target:HEAD\n")],
            vec![format!(
                "{oid} refs/heads/a symref-target:refs/heads/../x\n"
            )],
            vec![format!("{oid} refs/heads/a other:x\n")],
            vec![
                format!("{oid} refs/heads/a\n"),
                format!("{oid} refs/heads/a\n"),
            ],
        ] {
            let refs: Vec<&str> = bad.iter().map(String::as_str).collect();
            assert!(parse_ls_refs(&body(&refs), &names).is_err(), "{bad:?}");
        }
        // Refs not asked about are ignored.
        let other = body(&[&format!("{oid} refs/heads/ab symref-target:refs/heads/b\n")]);
        assert_eq!(
            parse_ls_refs(&other, &names).unwrap(),
            [RefTargets::plain("refs/heads/a")]
        );
    }
}
