//! Interop with AWS's own client: for the same credentials, host, path and
//! timestamp, gitiam's password equals the one the AWS CLI's
//! `codecommit credential-helper` computes (its own code, with botocore's
//! `SigV4Auth`), and the real `aws codecommit credential-helper` output
//! matches what gitiam computes at the timestamp it printed.

use crate::common::{self, CommandExt as _};

use gitiam::client::region::region_from_host;
use gitiam::shared::sigv4::codecommit;

use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

const AKID: &str = "AKIAEXAMPLEINTEROP1";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// Runs awscli's `CodeCommitGetCommand.sign_request` with the clock fixed
/// to `epoch` (only `get_current_datetime` is replaced).
const AWSCLI_SIGN: &str = r#"
import sys, datetime
import botocore.session
import awscli.customizations.codecommit as cc
akid, secret, region, url, epoch = sys.argv[1:6]
fixed = datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc).replace(tzinfo=None)
cc.get_current_datetime = lambda: fixed
session = botocore.session.get_session()
session.set_credentials(akid, secret)
print(cc.CodeCommitGetCommand(session).sign_request(region, url))
"#;

fn awscli_password(region: &str, protocol: &str, host: &str, path: &str, epoch: u64) -> String {
    let url = format!("{protocol}://{host}/{path}");
    let out = common::python3_ok(&[
        "-c",
        AWSCLI_SIGN,
        AKID,
        SECRET,
        region,
        &url,
        &epoch.to_string(),
    ]);
    String::from_utf8(out).unwrap().trim().to_owned()
}

#[test]
fn password_equals_awscli_for_fixed_inputs() {
    if !common::require_tool(
        "password_equals_awscli_for_fixed_inputs",
        "python3",
        &["-c", "import awscli.customizations.codecommit, botocore"],
    ) {
        return;
    }
    let cases = [
        (
            "us-east-1",
            "git-codecommit.us-east-1.amazonaws.com",
            "v1/repos/MyDemoRepo",
            1_440_938_160u64,
        ),
        (
            "eu-west-3",
            "git-codecommit.eu-west-3.amazonaws.com:443",
            "v1/repos/with.dots_and-dashes",
            1_700_000_000,
        ),
        (
            "us-west-2",
            "localhost:8443",
            "v1/repos/demo",
            1_764_547_200,
        ),
        (
            "ap-northeast-1",
            "git.example.com",
            "v1/repos/a",
            1_893_456_000,
        ),
        ("us-east-1", "127.0.0.1:9443", "v1/repos/x", 1_764_559_199),
    ];
    for (region, host, path, epoch) in cases {
        let theirs = awscli_password(region, "https", host, path, epoch);
        let ours = codecommit::password(
            SECRET,
            region,
            host,
            &format!("/{path}"),
            UNIX_EPOCH + Duration::from_secs(epoch),
        );
        assert_eq!(ours, theirs, "{region} {host} {path} {epoch}");
    }
}

fn aws_helper_get(host: &str, path: &str, extra_env: &[(&str, &str)]) -> (String, String) {
    let mut cmd = Command::new("aws");
    cmd.args([
        "codecommit",
        "credential-helper",
        "--ignore-host-check",
        "get",
    ])
    .env_remove("AWS_PROFILE")
    .env("AWS_ACCESS_KEY_ID", AKID)
    .env("AWS_SECRET_ACCESS_KEY", SECRET)
    .env("AWS_CONFIG_FILE", "/nonexistent/config")
    .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = cmd
        .run_stdin(format!("protocol=https\nhost={host}\npath={path}\n\n").as_bytes())
        .assert_success();
    let text = String::from_utf8(out.stdout_bytes).unwrap();
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap()
            .to_owned()
    };
    (field("username"), field("password"))
}

#[test]
fn real_aws_credential_helper_matches_at_its_timestamp() {
    if !common::require_tool(
        "real_aws_credential_helper_matches_at_its_timestamp",
        "aws",
        &["--version"],
    ) {
        return;
    }
    // Region from the host name, including the FIPS and VPC endpoint forms:
    // the AWS CLI derives it itself, so equal passwords prove equal regions.
    for host in [
        "git-codecommit.us-east-2.amazonaws.com",
        "git-codecommit-fips.us-gov-west-1.amazonaws.com",
        "vpce-0123456789abcdef0-abcdefgh.git-codecommit.eu-central-1.vpce.amazonaws.com",
    ] {
        let (user, theirs) = aws_helper_get(
            host,
            "v1/repos/demo",
            &[("AWS_DEFAULT_REGION", "ap-south-1")],
        );
        assert_eq!(user, AKID);
        let ts = codecommit::parse_password(&theirs).unwrap().timestamp;
        let region = region_from_host(host).unwrap();
        assert_eq!(
            codecommit::password(SECRET, region, host, "/v1/repos/demo", ts),
            theirs,
            "{host}"
        );
    }
    // A non-AWS host with a port: region from the environment, port unsigned.
    let (_, theirs) = aws_helper_get(
        "localhost:8443",
        "v1/repos/demo",
        &[("AWS_DEFAULT_REGION", "us-west-1")],
    );
    let ts = codecommit::parse_password(&theirs).unwrap().timestamp;
    assert_eq!(
        codecommit::password(SECRET, "us-west-1", "localhost", "/v1/repos/demo", ts),
        theirs
    );
    // Session token in the username, as the AWS CLI writes it.
    let (user, _) = aws_helper_get(
        "localhost",
        "v1/repos/demo",
        &[
            ("AWS_DEFAULT_REGION", "us-west-1"),
            ("AWS_SESSION_TOKEN", "FQoGZXIvYXdzEXAMPLE"),
        ],
    );
    assert_eq!(user, format!("{AKID}%FQoGZXIvYXdzEXAMPLE"));
}

#[test]
fn gitiam_binary_and_aws_cli_agree_on_the_same_request() {
    if !common::require_tool(
        "gitiam_binary_and_aws_cli_agree_on_the_same_request",
        "aws",
        &["--version"],
    ) {
        return;
    }
    let host = "git-codecommit.sa-east-1.amazonaws.com";
    let path = "v1/repos/interop";
    let (their_user, theirs) = aws_helper_get(host, path, &[("AWS_SESSION_TOKEN", "TOKEN123")]);
    let out = Command::new(common::bin("git-credential-gitiam"))
        .arg("get")
        .env_clear()
        .env("HOME", "/nonexistent")
        .env("AWS_ACCESS_KEY_ID", AKID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_SESSION_TOKEN", "TOKEN123")
        .run_stdin(format!("protocol=https\nhost={host}\npath={path}\n\n").as_bytes())
        .assert_success();
    let text = String::from_utf8(out.stdout_bytes).unwrap();
    let ours = text
        .lines()
        .find_map(|l| l.strip_prefix("password="))
        .unwrap();
    let our_user = text
        .lines()
        .find_map(|l| l.strip_prefix("username="))
        .unwrap();
    assert_eq!(our_user, their_user);
    // Each password is what the other side computes at its timestamp.
    let their_ts = codecommit::parse_password(&theirs).unwrap().timestamp;
    let their_epoch = their_ts.duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(
        codecommit::password(SECRET, "sa-east-1", host, &format!("/{path}"), their_ts),
        theirs
    );
    let our_ts = codecommit::parse_password(ours).unwrap().timestamp;
    let our_epoch = our_ts.duration_since(UNIX_EPOCH).unwrap().as_secs();
    if common::require_tool(
        "gitiam_binary_and_aws_cli_agree_on_the_same_request",
        "python3",
        &["-c", "import awscli"],
    ) {
        assert_eq!(
            awscli_password("sa-east-1", "https", host, path, our_epoch),
            ours
        );
        assert_eq!(
            awscli_password("sa-east-1", "https", host, path, their_epoch),
            theirs
        );
    }
}
