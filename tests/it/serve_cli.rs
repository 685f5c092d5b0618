//! The `gitiam serve` and `gitiam quickstart` command lines: configuration
//! errors name `file:line:column` and exit non-zero before serving; the
//! quickstart demo works with the commands it prints, and a second run
//! reuses it.

use crate::common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::server::{git_cmd, write};
use crate::common::{CommandExt as _, Run};

fn serve(dir: &Path) -> Run {
    Command::new(common::bin("gitiam"))
        .args(["serve", "--config"])
        .arg(dir.join("gitiam.toml"))
        .args(["--listen", "127.0.0.1:0"])
        .run()
}

#[test]
fn config_errors_name_file_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = dir.join("gitiam.toml");
    let cases: &[(&str, &str)] = &[
        (
            "[server]\nlisten = \"127.0.0.1:0\"\nregoin = \"x\"\n",
            ":3:1: unknown field `regoin`",
        ),
        (
            "[[accounts]]\nid = \"111122223333\"\n[[accounts.users]]\nname = \"a\"\ngroups = [\"ops\"]\n",
            ":5:11: unknown group `ops` in account 111122223333",
        ),
        (
            "[[accounts]]\nid = \"1234\"\n",
            ":2:6: account id `1234` must be 12 digits",
        ),
    ];
    for (toml, want) in cases {
        write(dir, "gitiam.toml", toml);
        let out = serve(dir);
        let out = out.assert_code(2);
        out.assert_stderr_contains(&format!("{}{want}", config.display()));
        out.check(out.stdout.is_empty(), "nothing served");
    }

    // A policy error names the policy file and its line, and where the
    // configuration refers to it.
    write(
        dir,
        "policies/bad.json",
        "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n",
    );
    write(
        dir,
        "gitiam.toml",
        "[[accounts]]\nid = \"111122223333\"\n[[accounts.users]]\nname = \"a\"\npolicies = [\"policies/bad.json\"]\n",
    );
    let out = serve(dir);
    let out = out.assert_code(2);
    out.assert_stderr_contains("policies/bad.json:4:");
    out.assert_stderr_contains(&format!("(policy referenced at {}:5:13)", config.display()));

    // A missing file.
    let out = Command::new(common::bin("gitiam"))
        .args(["serve", "--config"])
        .arg(dir.join("missing.toml"))
        .run();
    let out = out.assert_code(2);
    out.assert_stderr_contains("missing.toml");
}

#[test]
fn quickstart_demo_works_with_the_printed_commands() {
    if !common::require_tool("quickstart_demo_works", "git", &["--version"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let demo = tmp.path().join("demo-dir");
    let mut child = Command::new(common::bin("gitiam"))
        .arg("quickstart")
        .arg(&demo)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            text.push_str(&line);
            line.clear();
            if text.contains("Stop with Ctrl-C.") {
                let _ = tx.send(text.clone());
            }
        }
    });
    let printed = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    let url = printed
        .split_whitespace()
        .find(|w| w.starts_with("https://127.0.0.1:") && w.ends_with("/v1/repos/demo"))
        .unwrap_or_else(|| panic!("no clone URL in:\n{printed}"));
    let helper = common::bin("git-credential-gitiam");
    assert!(
        printed.contains(&format!(
            "credential.helper='{} --profile gitiam-quickstart'",
            helper.display()
        )),
        "{printed}"
    );
    let cert = std::fs::canonicalize(&demo)
        .unwrap()
        .join(".gitiam/tls/cert.pem");
    assert!(
        printed.contains(&format!("http.sslCAInfo={}", cert.display())),
        "{printed}"
    );
    // Where the binaries are, for the README's later bare `gitiam ...`;
    // the branch push sets the upstream so that `git pull` works after it.
    let bin_dir = helper.parent().unwrap();
    assert!(
        printed.contains(&format!("export PATH=\"{}:$PATH\"", bin_dir.display()))
            && bin_dir.join("gitiam").is_file(),
        "{printed}"
    );
    assert!(printed.contains("git push -u origin feature "), "{printed}");

    // The printed clone command, then a branch push and a refused push to main.
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let aws = std::fs::canonicalize(&demo).unwrap().join("aws");
    let git = |cwd: &Path, args: &[&str]| {
        git_cmd(cwd)
            .args(args)
            .env("AWS_SHARED_CREDENTIALS_FILE", aws.join("credentials"))
            .env("AWS_CONFIG_FILE", aws.join("config"))
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_REGION")
            .run()
    };
    let helper_cfg = format!(
        "credential.helper={} --profile gitiam-quickstart",
        helper.display()
    );
    let ca_cfg = format!("http.sslCAInfo={}", cert.display());
    let out = git(
        &work,
        &[
            "clone",
            "-c",
            &helper_cfg,
            "-c",
            "credential.useHttpPath=true",
            "-c",
            &ca_cfg,
            url,
        ],
    );
    out.assert_success();
    let clone = work.join("demo");
    assert!(clone.join("README.md").is_file());
    std::fs::write(clone.join("hello.txt"), "hello\n").unwrap();
    for args in [
        &["switch", "-q", "-c", "feature"][..],
        &["add", "hello.txt"],
        &["commit", "-q", "-m", "hello"],
    ] {
        let out = git(&clone, args);
        out.assert_success();
    }
    let out = git(&clone, &["push", "-u", "origin", "feature"]);
    out.assert_success();
    // The printed -u made the branch track origin/feature: `git pull` works.
    git(&clone, &["pull", "-q"]).assert_success();
    let out = git(&clone, &["push", "origin", "feature:main"]);
    let out = out.assert_failure();
    out.assert_stderr_contains("! [remote rejected] feature -> main (denied by policy policies/developers.json statement DenyPushToMain)");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());

    // Twice: the demo is reused (same keys), not overwritten.
    let before = std::fs::read_to_string(demo.join("gitiam.toml")).unwrap();
    let out = Command::new(common::bin("gitiam"))
        .arg("quickstart")
        .arg(&demo)
        .arg("--no-serve")
        .run();
    let out = out.assert_success();
    out.assert_stderr_contains("reusing the demo");
    assert_eq!(
        std::fs::read_to_string(demo.join("gitiam.toml")).unwrap(),
        before
    );

    // A folder holding something else is refused.
    let other = tmp.path().join("other");
    write(&other, "notes.txt", "mine");
    let out = Command::new(common::bin("gitiam"))
        .arg("quickstart")
        .arg(&other)
        .arg("--no-serve")
        .run();
    out.assert_code(2);
    let mut notes = String::new();
    std::fs::File::open(other.join("notes.txt"))
        .unwrap()
        .read_to_string(&mut notes)
        .unwrap();
    assert_eq!(notes, "mine");
}

#[test]
fn a_busy_port_suggests_listen() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    write(dir, "gitiam.toml", "[server]\nregion = \"us-east-1\"\n");
    let out = Command::new(common::bin("gitiam"))
        .args(["serve", "--config"])
        .arg(dir.join("gitiam.toml"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .run();
    let out = out.assert_code(1);
    out.check(
        out.stderr
            .lines()
            .filter(|l| l.starts_with("gitiam:"))
            .count()
            == 1,
        "one error line",
    );
    out.assert_stderr_contains(&format!("cannot listen on 127.0.0.1:{port}"));
    out.assert_stderr_contains(
        "choose another address with --listen (e.g. --listen 127.0.0.1:0 for a free port)",
    );

    // The quickstart names the same flag; a busy SSH port names --ssh-listen.
    let out = Command::new(common::bin("gitiam"))
        .arg("quickstart")
        .arg(dir.join("demo"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--ssh-listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .run();
    let out = out.assert_code(1);
    out.assert_stderr_contains("with --listen");
    let out = Command::new(common::bin("gitiam"))
        .arg("quickstart")
        .arg(dir.join("demo"))
        .args(["--listen", "127.0.0.1:0"])
        .args(["--ssh-listen", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .run();
    let out = out.assert_code(1);
    out.assert_stderr_contains("with --ssh-listen");
    drop(taken);
}

/// `cargo run -- quickstart` before the helper is built: the quickstart
/// builds it with the cargo that runs it (`CARGO`, same profile), says so
/// first, and lets cargo's progress lines (its stderr) through, so that the
/// minute-long first build visibly does something; cargo's stdout is not
/// mixed into the printed commands. The cargo here is a script that records
/// its arguments and prints a progress line: the real one, run inside the
/// test suite, would rebuild the helper binary that other tests are running.
#[test]
fn quickstart_builds_a_missing_helper_showing_cargo_progress() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let cargo = root.join("cargo");
    write(
        root,
        "cargo",
        "#!/bin/sh\n\
         printf '%s\\n' \"$@\" > \"$ARGS_FILE\"\n\
         echo '   Compiling git-credential-gitiam (progress line)' >&2\n\
         echo 'cargo stdout'\n\
         exit \"${CARGO_EXIT:-0}\"\n",
    );
    std::fs::set_permissions(&cargo, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let manifest = root.join("checkout/Cargo.toml");
    let quickstart = |profile: &str, exit: &str| {
        // The helper is looked for, and built for, beside the running gitiam.
        let bin_dir = root.join(profile);
        let gitiam = bin_dir.join("gitiam");
        if !gitiam.exists() {
            std::fs::create_dir_all(&bin_dir).unwrap();
            std::fs::hard_link(common::bin("gitiam"), &gitiam)
                .or_else(|_| std::fs::copy(common::bin("gitiam"), &gitiam).map(|_| ()))
                .unwrap();
        }
        let args_file = root.join(format!("{profile}-{exit}.args"));
        let run = Command::new(&gitiam)
            .arg("quickstart")
            .arg(root.join(format!("demo-{profile}-{exit}")))
            .arg("--no-serve")
            .env("CARGO", &cargo)
            .env("CARGO_MANIFEST_PATH", &manifest)
            .env("CARGO_PKG_NAME", "gitiam")
            .env("CARGO_EXIT", exit)
            .env("ARGS_FILE", &args_file)
            .run();
        let args = std::fs::read_to_string(&args_file).ok();
        (run.assert_success(), args)
    };

    for (profile, release) in [("debug", None), ("release", Some("--release"))] {
        let (run, args) = quickstart(profile, "0");
        let announced = run.stderr.find("gitiam: building git-credential-gitiam");
        let progress = run
            .stderr
            .find("Compiling git-credential-gitiam (progress line)");
        run.check(
            matches!((announced, progress), (Some(a), Some(p)) if a < p),
            "the build is announced, then cargo's progress is shown",
        );
        run.check(
            !run.stdout.contains("cargo stdout"),
            "cargo's stdout is kept out of the printed commands",
        );
        let mut expected = vec![
            "build".to_string(),
            "--bin".into(),
            "git-credential-gitiam".into(),
            "--manifest-path".into(),
            manifest.display().to_string(),
        ];
        expected.extend(release.map(String::from));
        assert_eq!(
            args.map(|a| a.lines().map(String::from).collect::<Vec<_>>()),
            Some(expected),
            "{profile}: cargo's arguments"
        );
    }

    let (run, _) = quickstart("debug", "1");
    run.assert_stderr_contains("gitiam: building git-credential-gitiam failed");

    // A helper already beside gitiam is used as it is: no build.
    write(&root.join("debug"), "git-credential-gitiam", "#!/bin/sh\n");
    let (run, args) = quickstart("debug", "2");
    run.check(
        !run.stderr.contains("building git-credential-gitiam") && args.is_none(),
        "no build when the helper exists",
    );
}
