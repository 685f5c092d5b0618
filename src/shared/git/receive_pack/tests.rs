//! The receive-pack command section parser against Git's own rules.

use super::*;
use bytes::BytesMut;

const A: &str = "1111111111111111111111111111111111111111";
const B: &str = "2222222222222222222222222222222222222222";
const Z: &str = "0000000000000000000000000000000000000000";

fn body(lines: &[&[u8]]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for l in lines {
        if l.is_empty() {
            pktline::write_flush(&mut out);
        } else {
            pktline::write_data(&mut out, l).unwrap();
        }
    }
    out.to_vec()
}

fn cmd(old: &str, new: &str, name: &str, caps: Option<&str>) -> Vec<u8> {
    let mut s = format!("{old} {new} {name}").into_bytes();
    if let Some(c) = caps {
        s.push(0);
        s.extend_from_slice(c.as_bytes());
    }
    s
}

#[test]
fn several_commands() {
    let c1 = cmd(
        Z,
        A,
        "refs/heads/new",
        Some(" report-status side-band-64k agent=git/2"),
    );
    let c2 = cmd(A, Z, "refs/heads/old", None);
    let c3 = cmd(A, B, "refs/tags/v1", None);
    let mut b = body(&[&c1, &c2, &c3, b""]);
    b.extend_from_slice(b"PACK....");
    let (req, used) = parse_command_section(&b).unwrap();
    assert_eq!(used, b.len() - 8);
    assert_eq!(req.commands.len(), 3);
    assert_eq!(req.commands[0].kind(), RefUpdateKind::Create);
    assert_eq!(req.commands[1].kind(), RefUpdateKind::Delete);
    assert_eq!(req.commands[2].kind(), RefUpdateKind::Update);
    assert_eq!(req.commands[2].name, "refs/tags/v1");
    assert!(req.capabilities.report_status());
    assert!(req.capabilities.side_band_64k());
    assert!(!req.capabilities.report_status_v2());
    assert_eq!(req.capabilities.value("agent"), Some("git/2"));
    assert!(req.expects_pack());
    assert!(!req.is_probe);
}

#[test]
fn newline_terminated_and_uppercase() {
    let c = format!("{} {B} refs/heads/main\n", A.to_uppercase());
    let b = body(&[c.as_bytes(), b""]);
    let (req, _) = parse_command_section(&b).unwrap();
    assert_eq!(req.commands[0].old.as_str(), A);
    assert_eq!(req.commands[0].name, "refs/heads/main");
}

#[test]
fn probe() {
    let (req, used) = parse_command_section(b"0000").unwrap();
    assert!(req.is_probe);
    assert_eq!(used, 4);
    assert!(!req.expects_pack());
}

#[test]
fn shallow_lines() {
    let s = format!("shallow {A}");
    let c = cmd(A, B, "refs/heads/main", Some("report-status"));
    let (req, _) = parse_command_section(&body(&[s.as_bytes(), &c, b""])).unwrap();
    assert_eq!(req.shallow.len(), 1);
    let bad = format!("shallow {A}x");
    assert!(matches!(
        parse_command_section(&body(&[bad.as_bytes(), &c, b""])),
        Err(ReceivePackError::BadShallow(_))
    ));
}

#[test]
fn push_options() {
    let c = cmd(A, B, "refs/heads/main", Some("report-status push-options"));
    let b = body(&[&c, b"", b"ci.skip", b"reviewer=bob\n", b""]);
    let (req, used) = parse_command_section(&b).unwrap();
    assert_eq!(
        req.push_options,
        vec!["ci.skip".to_owned(), "reviewer=bob".to_owned()]
    );
    assert_eq!(used, b.len());
    // Without the capability the options are not part of the section.
    let c = cmd(A, B, "refs/heads/main", Some("report-status"));
    let b = body(&[&c, b"", b"ci.skip", b""]);
    let (req, used) = parse_command_section(&b).unwrap();
    assert!(req.push_options.is_empty());
    assert_eq!(used, b.len() - 15);
}

#[test]
fn sha256() {
    let a = "a".repeat(64);
    let z = "0".repeat(64);
    let c = cmd(
        &z,
        &a,
        "refs/heads/main",
        Some("report-status object-format=sha256"),
    );
    let (req, _) = parse_command_section(&body(&[&c, b""])).unwrap();
    assert_eq!(req.object_format, ObjectFormat::Sha256);
    assert_eq!(req.commands[0].new.as_str(), a);
    // A sha1-length oid in a sha256 push is refused.
    let c = cmd(Z, A, "refs/heads/main", Some("object-format=sha256"));
    assert!(parse_command_section(&body(&[&c, b""])).is_err());
    let c = cmd(Z, A, "refs/heads/main", Some("object-format=md5"));
    assert!(matches!(
        parse_command_section(&body(&[&c, b""])),
        Err(ReceivePackError::UnsupportedObjectFormat(_))
    ));
}

#[test]
fn signed_push() {
    let cert: Vec<&[u8]> = vec![
        b"certificate version 0.1\n",
        b"pusher Alice <a@example.com> 1700000000 +0000\n",
        b"pushee https://example.com/v1/repos/r\n",
        b"nonce 1700000000-abc\n",
        b"\n",
    ];
    let c1 = format!("{Z} {A} refs/heads/a\n");
    let c2 = format!("{A} {B} refs/heads/b\n");
    let mut lines: Vec<Vec<u8>> = vec![b"push-cert\0 report-status side-band-64k".to_vec()];
    lines.extend(cert.iter().map(|l| l.to_vec()));
    lines.push(c1.into_bytes());
    lines.push(c2.into_bytes());
    lines.push(b"-----BEGIN PGP SIGNATURE-----\n".to_vec());
    lines.push(b"abc\n".to_vec());
    lines.push(b"-----END PGP SIGNATURE-----\n".to_vec());
    lines.push(b"push-cert-end\n".to_vec());
    lines.push(Vec::new());
    let refs: Vec<&[u8]> = lines.iter().map(|l| l.as_slice()).collect();
    let (req, _) = parse_command_section(&body(&refs)).unwrap();
    assert!(req.signed);
    assert!(req.capabilities.side_band_64k());
    let names: Vec<_> = req.commands.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["refs/heads/a", "refs/heads/b"]);
}

#[test]
fn empty_certificate_has_no_push_options() {
    let b = body(&[
        b"push-cert\0report-status push-options",
        b"certificate version 0.1\n",
        b"\n",
        b"push-cert-end\n",
        b"",
    ]);
    let (req, used) = parse_command_section(&b).unwrap();
    assert!(req.is_probe && req.signed);
    assert_eq!(used, b.len());
}

#[test]
fn certificate_refusals() {
    // No blank line between header and commands.
    let b = body(&[
        b"push-cert\0report-status",
        b"certificate version 0.1\n",
        b"push-cert-end\n",
        b"",
    ]);
    assert_eq!(
        parse_command_section(&b).unwrap_err(),
        ReceivePackError::MalformedCertificate
    );
    // Unsigned commands next to a certificate.
    let c = cmd(A, B, "refs/heads/main", None);
    let b = body(&[
        b"push-cert\0report-status",
        b"x\n\n",
        b"push-cert-end\n",
        &c,
        b"",
    ]);
    assert_eq!(
        parse_command_section(&b).unwrap_err(),
        ReceivePackError::UnexpectedCertificate
    );
    // A bad command inside the certificate.
    let b = body(&[
        b"push-cert\0report-status",
        b"h\n",
        b"\n",
        b"nonsense\n",
        b"push-cert-end\n",
        b"",
    ]);
    assert!(matches!(
        parse_command_section(&b),
        Err(ReceivePackError::BadCommand(_))
    ));
}

#[test]
fn refusals() {
    let good = cmd(A, B, "refs/heads/main", Some("report-status"));
    let cases: Vec<Vec<u8>> = vec![
        // missing flush
        body(&[&good]),
        // truncated packet
        b"00a0abc".to_vec(),
        // bad length characters
        b"zzzz".to_vec(),
        // length 3
        b"0003".to_vec(),
        // too long
        b"fff1".to_vec(),
        // delim ends nothing
        [body(&[&good]), b"0001".to_vec()].concat(),
        [body(&[&good]), b"0002".to_vec()].concat(),
        // short oid
        body(&[format!("{} {B} refs/heads/main", &A[1..]).as_bytes(), b""]),
        // non-hex oid
        body(&[format!("{}g {B} refs/heads/main", &A[1..]).as_bytes(), b""]),
        // missing ref name
        body(&[format!("{A} {B}").as_bytes(), b""]),
        // double space
        body(&[format!("{A}  {B} refs/heads/main").as_bytes(), b""]),
        // funny ref names
        body(&[cmd(A, B, "refs/heads/a..b", None).as_slice(), b""]),
        body(&[cmd(A, B, "HEAD", None).as_slice(), b""]),
        body(&[cmd(A, B, "refs/main", None).as_slice(), b""]),
        body(&[cmd(A, B, "refs/heads/x.lock", None).as_slice(), b""]),
        body(&[cmd(A, B, "refs/heads/a b", None).as_slice(), b""]),
        body(&[cmd(A, B, "refs/heads//a", None).as_slice(), b""]),
        body(&[
            &[cmd(A, B, "refs/heads/", None).as_slice(), &[0xff]].concat(),
            b"",
        ]),
        // error packet
        body(&[b"ERR go away", b""]),
        // empty data line
        [b"0004".to_vec(), body(&[b""])].concat(),
    ];
    for (i, case) in cases.iter().enumerate() {
        assert!(parse_command_section(case).is_err(), "case {i} accepted");
    }
}

#[test]
fn ref_names() {
    for ok in [
        "refs/heads/main",
        "refs/heads/feature/x-1",
        "refs/tags/v1.0",
        "refs/notes/commits",
    ] {
        assert!(is_valid_ref_name(ok), "{ok}");
    }
    for bad in [
        "refs/heads/",
        "refs/heads/.x",
        "refs/heads/a.",
        "refs/heads/a@{1}",
        "refs/heads/a~1",
        "refs/heads/a:b",
        "refs/heads/a\\b",
        "refs/heads/a*",
        "heads/main",
        "refs/",
        "refs/@",
    ] {
        assert!(!is_valid_ref_name(bad), "{bad}");
    }
}

proptest::proptest! {
    #[test]
    fn encoded_commands_parse_back(
        cmds in proptest::collection::vec(
            ("[0-9a-f]{40}", "[0-9a-f]{40}", "(heads|tags)/[a-z0-9_-]{1,12}(/[a-z0-9]{1,5})?"),
            1..20,
        ),
        options in proptest::collection::vec("[a-z0-9=. _-]{0,20}", 0..4),
    ) {
        let mut out = BytesMut::new();
        for (i, (old, new, name)) in cmds.iter().enumerate() {
            let mut line = format!("{old} {new} refs/{name}").into_bytes();
            if i == 0 {
                line.extend_from_slice(b"\0 report-status side-band-64k push-options");
            }
            pktline::write_data(&mut out, &line).unwrap();
        }
        pktline::write_flush(&mut out);
        for o in &options {
            pktline::write_data(&mut out, o.as_bytes()).unwrap();
        }
        pktline::write_flush(&mut out);
        let (req, used) = parse_command_section(&out).unwrap();
        proptest::prop_assert_eq!(used, out.len());
        proptest::prop_assert_eq!(req.commands.len(), cmds.len());
        for (c, (old, new, name)) in req.commands.iter().zip(&cmds) {
            proptest::prop_assert_eq!(c.old.as_str(), old.as_str());
            proptest::prop_assert_eq!(c.new.as_str(), new.as_str());
            proptest::prop_assert_eq!(c.name.clone(), format!("refs/{name}"));
        }
        // Options lose one trailing newline at most (chomp), none here.
        proptest::prop_assert_eq!(&req.push_options, &options);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        let _ = parse_command_section(&data);
    }
}
