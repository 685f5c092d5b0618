//! `gitiam iam ...` through the real binary: every command on a
//! configuration with comments (comments and unrelated lines byte-identical
//! afterwards), AWS CLI-shaped JSON and errors, refused changes leaving the
//! file byte-identical with its mode, a running server picking up a new
//! access key and refusing a deleted one, and an uploaded SSH key working
//! with the SSH door and the real `ssh` client. Also: the file's owner and
//! group kept (or the change refused), concurrent runs losing no edit (the
//! lock), a folder the user cannot write still listable, secrets from the
//! environment not needed to edit, group names written as defined, and the
//! SSH key and Git credential quotas and delete conflicts.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::server::{ACCOUNT, Creds, TestServer, bare_repo_with_commit, write};
use crate::common::{self, CommandExt as _, Run};

const READ_ONLY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    { "Sid": "Pull", "Effect": "Allow", "Action": "codecommit:GitPull", "Resource": "*" }
  ]
}"#;

/// A configuration as an administrator writes it: comments everywhere, a
/// multi-line inline array, aligned values.
fn config(extra_server: &str) -> String {
    format!(
        r#"# gitiam configuration (kept by hand and by `gitiam iam`)
[server]
region = "us-east-1"   # the SigV4 region
{extra_server}
[backend]
repos = "repos"        # embedded git http-backend

[[accounts]]
id = "{ACCOUNT}"       # the only account

# Alice leads the web team.
[[accounts.users]]
name = "alice"
groups = ["readers"]   # read-only for now
access_keys = [
  # her laptop
  {{ id = "AKIAALICE00000000001", secret = "alice-secret-0123456789abcdef" }},
]

[[accounts.groups]]
name = "readers"       # pull only
policies = ["policies/read-only.json"]
"#
    )
}

fn setup(extra_server: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    write(&root, "gitiam.toml", &config(extra_server));
    write(&root, "policies/read-only.json", READ_ONLY);
    (tmp, root)
}

fn iam(root: &Path, args: &[&str]) -> Run {
    Command::new(common::bin("gitiam"))
        .current_dir(root)
        .arg("iam")
        .args(args)
        .run()
}

fn iam_json(root: &Path, args: &[&str]) -> serde_json::Value {
    let out = iam(root, args).assert_success();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

fn text(root: &Path) -> String {
    std::fs::read_to_string(root.join("gitiam.toml")).unwrap()
}

#[test]
fn every_command_keeps_comments_and_unrelated_lines() {
    let (_tmp, root) = setup("");
    let original = text(&root);

    // Users and groups: a full round trip leaves the file as it was.
    let user = iam_json(&root, &["create-user", "--user-name", "bob"]);
    assert_eq!(user["User"]["UserName"], "bob");
    assert_eq!(user["User"]["Path"], "/");
    assert_eq!(
        user["User"]["Arn"],
        format!("arn:aws:iam::{ACCOUNT}:user/bob")
    );
    assert!(user["User"]["UserId"].as_str().unwrap().starts_with("AIDA"));
    assert!(
        user["User"]["CreateDate"]
            .as_str()
            .unwrap()
            .ends_with("+00:00")
    );
    let after = text(&root);
    // After alice's table, before the groups: the original text plus one block.
    let bob = "\n[[accounts.users]]\nname = \"bob\"\n";
    assert!(
        after.contains(&format!("]\n{bob}\n[[accounts.groups]]")),
        "{after}"
    );
    assert_eq!(after.replacen(bob, "", 1), original);
    let users = iam_json(&root, &["list-users"]);
    let names: Vec<_> = users["Users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["UserName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob"]);

    iam(
        &root,
        &[
            "add-user-to-group",
            "--group-name",
            "readers",
            "--user-name",
            "bob",
        ],
    )
    .assert_success();
    assert!(
        text(&root).contains("name = \"bob\"\ngroups = [\"readers\"]\n"),
        "{}",
        text(&root)
    );
    iam(
        &root,
        &[
            "remove-user-from-group",
            "--group-name",
            "readers",
            "--user-name",
            "bob",
        ],
    )
    .assert_success();

    // Access keys. The fields come in the AWS CLI's order, as `aws iam
    // create-access-key` prints them.
    let out = iam(&root, &["create-access-key", "--user-name", "bob"]).assert_success();
    let order: Vec<usize> = [
        "\"UserName\"",
        "\"AccessKeyId\"",
        "\"Status\"",
        "\"SecretAccessKey\"",
        "\"CreateDate\"",
    ]
    .iter()
    .map(|k| out.stdout.find(k).unwrap_or(usize::MAX))
    .collect();
    out.check(
        order.windows(2).all(|w| w[0] < w[1]),
        "AccessKey fields in the AWS CLI's order",
    );
    let key: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let akid = key["AccessKey"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(akid.starts_with("AKIA") && akid.len() == 20, "{akid}");
    assert_eq!(key["AccessKey"]["Status"], "Active");
    assert_eq!(
        key["AccessKey"]["SecretAccessKey"].as_str().unwrap().len(),
        40
    );
    let listed = iam(&root, &["list-access-keys", "--user-name", "bob"]).assert_success();
    assert!(
        !listed
            .stdout
            .contains(key["AccessKey"]["SecretAccessKey"].as_str().unwrap())
    );
    let listed: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(listed["AccessKeyMetadata"][0]["AccessKeyId"], akid.as_str());
    assert_eq!(
        listed["AccessKeyMetadata"][0]["CreateDate"],
        key["AccessKey"]["CreateDate"]
    );
    // Hand-written keys have no CreateDate.
    let all = iam_json(&root, &["list-access-keys"]);
    assert_eq!(all["AccessKeyMetadata"][0]["UserName"], "alice");
    assert!(all["AccessKeyMetadata"][0].get("CreateDate").is_none());
    iam(
        &root,
        &[
            "update-access-key",
            "--access-key-id",
            &akid,
            "--status",
            "Inactive",
        ],
    )
    .assert_success();
    let listed = iam_json(&root, &["list-access-keys", "--user-name", "bob"]);
    assert_eq!(listed["AccessKeyMetadata"][0]["Status"], "Inactive");
    // Deleting a user that still has a key is a DeleteConflict.
    let out = iam(&root, &["delete-user", "--user-name", "bob"]).assert_failure();
    out.assert_stderr_contains("An error occurred (DeleteConflict) when calling the DeleteUser operation: Cannot delete entity, must delete access keys first.");
    iam(&root, &["delete-access-key", "--access-key-id", &akid]).assert_success();

    // SSH public keys.
    let pair = common::ssh::keygen(&root, "bob_key", "ed25519");
    let uploaded = iam_json(
        &root,
        &[
            "upload-ssh-public-key",
            "--user-name",
            "bob",
            "--ssh-public-key-body",
            &pair.public,
        ],
    );
    let ssh = &uploaded["SSHPublicKey"];
    let ssh_id = ssh["SSHPublicKeyId"].as_str().unwrap().to_string();
    assert!(ssh_id.starts_with("APKA") && ssh_id.len() == 20, "{ssh_id}");
    assert_eq!(ssh["SSHPublicKeyBody"], pair.public.as_str());
    // ssh-keygen's own MD5 fingerprint.
    let md5 = Command::new("ssh-keygen")
        .args(["-l", "-E", "md5", "-f"])
        .arg(root.join("bob_key.pub"))
        .ok()
        .stdout;
    let md5 = md5
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_start_matches("MD5:")
        .to_string();
    assert_eq!(ssh["Fingerprint"], md5.as_str());
    let again = iam(
        &root,
        &[
            "upload-ssh-public-key",
            "--user-name",
            "alice",
            "--ssh-public-key-body",
            &pair.public,
        ],
    )
    .assert_failure();
    again.assert_stderr_contains(
        "(DuplicateSSHPublicKey) when calling the UploadSSHPublicKey operation",
    );
    iam(
        &root,
        &[
            "update-ssh-public-key",
            "--user-name",
            "bob",
            "--ssh-public-key-id",
            &ssh_id,
            "--status",
            "Inactive",
        ],
    )
    .assert_success();
    let keys = iam_json(&root, &["list-ssh-public-keys", "--user-name", "bob"]);
    assert_eq!(keys["SSHPublicKeys"][0]["Status"], "Inactive");
    assert_eq!(keys["SSHPublicKeys"][0]["UploadDate"], ssh["UploadDate"]);
    iam(
        &root,
        &[
            "delete-ssh-public-key",
            "--user-name",
            "bob",
            "--ssh-public-key-id",
            &ssh_id,
        ],
    )
    .assert_success();

    // Git credentials.
    let c = iam_json(
        &root,
        &[
            "create-service-specific-credential",
            "--user-name",
            "bob",
            "--service-name",
            "codecommit.amazonaws.com",
        ],
    );
    let c = &c["ServiceSpecificCredential"];
    let cid = c["ServiceSpecificCredentialId"]
        .as_str()
        .unwrap()
        .to_string();
    let password = c["ServicePassword"].as_str().unwrap().to_string();
    assert_eq!(c["ServiceUserName"], format!("bob-at-{ACCOUNT}"));
    assert_eq!(c["ServiceName"], "codecommit.amazonaws.com");
    assert_eq!(password.len(), 44);
    assert!(
        !text(&root).contains(&password),
        "the password is never stored"
    );
    let list = iam(
        &root,
        &["list-service-specific-credentials", "--user-name", "bob"],
    )
    .assert_success();
    assert!(!list.stdout.contains(&password));
    let list: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(
        list["ServiceSpecificCredentials"][0]["ServiceSpecificCredentialId"],
        cid.as_str()
    );
    iam(
        &root,
        &[
            "update-service-specific-credential",
            "--service-specific-credential-id",
            &cid,
            "--status",
            "Inactive",
        ],
    )
    .assert_success();
    let reset = iam_json(
        &root,
        &[
            "reset-service-specific-credential",
            "--service-specific-credential-id",
            &cid,
        ],
    );
    assert_ne!(
        reset["ServiceSpecificCredential"]["ServicePassword"],
        password.as_str()
    );
    assert_eq!(reset["ServiceSpecificCredential"]["Status"], "Inactive");
    let out = iam(
        &root,
        &[
            "create-service-specific-credential",
            "--user-name",
            "bob",
            "--service-name",
            "s3.amazonaws.com",
        ],
    )
    .assert_failure();
    out.assert_stderr_contains("(NotSupportedService)");
    iam(
        &root,
        &[
            "delete-service-specific-credential",
            "--service-specific-credential-id",
            &cid,
        ],
    )
    .assert_success();

    iam(&root, &["delete-user", "--user-name", "bob"]).assert_success();
    assert_eq!(
        text(&root),
        original,
        "every change undone: the file is as written"
    );

    // Adding to alice's hand-written multi-line array keeps its layout and comment.
    let key = iam_json(&root, &["create-access-key", "--user-name", "alice"]);
    let akid = key["AccessKey"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let after = text(&root);
    assert!(after.contains("  # her laptop\n  { id = \"AKIAALICE00000000001\", secret = \"alice-secret-0123456789abcdef\" },\n  { id = \""), "{after}");
    let out = iam(&root, &["create-access-key", "--user-name", "alice"]).assert_failure();
    out.assert_stderr_contains("An error occurred (LimitExceeded) when calling the CreateAccessKey operation: Cannot exceed quota for AccessKeysPerUser: 2");
    iam(
        &root,
        &[
            "delete-access-key",
            "--access-key-id",
            &akid,
            "--user-name",
            "alice",
        ],
    )
    .assert_success();
    assert_eq!(text(&root), original);

    let group = iam_json(&root, &["create-group", "--group-name", "ops"]);
    assert_eq!(
        group["Group"]["Arn"],
        format!("arn:aws:iam::{ACCOUNT}:group/ops")
    );
    assert!(text(&root).starts_with(&original));
    assert!(
        text(&root).ends_with("\n[[accounts.groups]]\nname = \"ops\"\n"),
        "{}",
        text(&root)
    );
}

#[test]
fn errors_are_iam_errors_and_refused_changes_leave_the_file_untouched() {
    let (_tmp, root) = setup("");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            root.join("gitiam.toml"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
    }
    let original = text(&root);
    let cases: [(&[&str], &str); 6] = [
        (
            &["delete-user", "--user-name", "bob"],
            "An error occurred (NoSuchEntity) when calling the DeleteUser operation: The user with name bob cannot be found.",
        ),
        (
            &["create-user", "--user-name", "ALICE"],
            "An error occurred (EntityAlreadyExists) when calling the CreateUser operation: User with name ALICE already exists.",
        ),
        (
            &[
                "add-user-to-group",
                "--group-name",
                "nope",
                "--user-name",
                "alice",
            ],
            "(NoSuchEntity) when calling the AddUserToGroup operation: The group with name nope cannot be found.",
        ),
        (
            &[
                "update-access-key",
                "--access-key-id",
                "AKIANOPE000000000000",
                "--status",
                "Active",
            ],
            "(NoSuchEntity) when calling the UpdateAccessKey operation",
        ),
        (
            &[
                "delete-service-specific-credential",
                "--service-specific-credential-id",
                "ACCANOPE0000000000000",
            ],
            "(NoSuchEntity) when calling the DeleteServiceSpecificCredential operation",
        ),
        // The loader refuses the name: the file stays as it was.
        (
            &["create-user", "--user-name", "bad/name"],
            "refused, the file is unchanged: after this change the configuration would not load: ",
        ),
    ];
    for (args, message) in cases {
        let out = iam(&root, args).assert_code(1);
        out.assert_stderr_contains(message);
        assert_eq!(text(&root), original, "{args:?}");
    }
    iam(&root, &["create-user", "--user-name", "bad/name"])
        .assert_failure()
        .assert_stderr_contains("gitiam.toml:");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        iam(&root, &["create-user", "--user-name", "carol"]).assert_success();
        let mode = std::fs::metadata(root.join("gitiam.toml"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o640, "the mode is kept");
        // No temporary file left behind.
        let names: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            names.iter().all(|n| !n.to_string_lossy().contains(".tmp")),
            "{names:?}"
        );
    }

    // Several accounts: --account-id picks one.
    let two = format!("{original}\n[[accounts]]\nid = \"444455556666\"\n");
    write(&root, "gitiam.toml", &two);
    iam(&root, &["list-users"])
        .assert_failure()
        .assert_stderr_contains("--account-id");
    let users = iam_json(&root, &["list-users", "--account-id", "444455556666"]);
    assert_eq!(users["Users"].as_array().unwrap().len(), 0);
    iam_json(
        &root,
        &[
            "--account-id",
            "444455556666",
            "create-user",
            "--user-name",
            "alice",
        ],
    );
    assert!(
        text(&root).ends_with("id = \"444455556666\"\n\n[[accounts.users]]\nname = \"alice\"\n"),
        "{}",
        text(&root)
    );
    iam(&root, &["list-users", "--account-id", "999999999999"]).assert_failure();
}

#[test]
fn a_running_server_picks_up_a_new_key_and_refuses_a_deleted_one() {
    if !common::require_tool("iam_cli_running_server", "git", &["--version"]) {
        return;
    }
    let (_tmp, root) = setup("");
    bare_repo_with_commit(&root, ACCOUNT, "demo");
    let server = TestServer::start(&root);
    let key = iam_json(&root, &["create-access-key", "--user-name", "alice"]);
    let creds = Creds::new(
        key["AccessKey"]["AccessKeyId"].as_str().unwrap(),
        key["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
    );
    let ls_remote = || {
        server
            .git(&root, &creds)
            .args(["ls-remote", &server.url("demo")])
            .run()
            .succeeded()
    };
    common::wait_for_reload("the new key to work", ls_remote);
    iam(
        &root,
        &["delete-access-key", "--access-key-id", &creds.akid],
    )
    .assert_success();
    common::wait_for_reload("the deleted key to be refused", || !ls_remote());
}

#[test]
fn an_uploaded_ssh_key_logs_in_through_the_ssh_door() {
    if !common::require_tool("iam_cli_ssh", "ssh", &["-V"])
        || !common::require_tool("iam_cli_ssh", "git", &["--version"])
    {
        return;
    }
    let (_tmp, root) = setup("ssh_listen = \"127.0.0.1:0\"\n");
    bare_repo_with_commit(&root, ACCOUNT, "demo");
    let pair = common::ssh::keygen(&root, "alice_key", "ed25519");
    let uploaded = iam_json(
        &root,
        &[
            "upload-ssh-public-key",
            "--user-name",
            "alice",
            "--ssh-public-key-body",
            &format!("file://{}", root.join("alice_key.pub").display()),
        ],
    );
    let id = uploaded["SSHPublicKey"]["SSHPublicKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let server = common::ssh::SshServer::start(&root);
    let out = server
        .git(&root, &pair.private)
        .args(["ls-remote", &server.url(&id, "demo")])
        .run();
    assert!(
        out.succeeded(),
        "{}\n{}",
        out.stderr,
        std::fs::read_to_string(root.join("server.log")).unwrap_or_default()
    );
    assert!(out.stdout.contains("refs/heads/main"), "{}", out.stdout);
}

/// The owner, group and mode of a file.
#[cfg(unix)]
fn owner(path: &Path) -> (u32, u32, u32) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let m = std::fs::metadata(path).unwrap();
    (m.uid(), m.gid(), m.permissions().mode() & 0o777)
}

/// `id -g` / `id -G` of the test user.
#[cfg(unix)]
fn id(flag: &str) -> Vec<u32> {
    Command::new("id")
        .arg(flag)
        .ok()
        .stdout
        .split_whitespace()
        .map(|g| g.parse().unwrap())
        .collect()
}

#[cfg(unix)]
#[test]
fn the_owner_and_group_of_the_file_are_kept() {
    use std::os::unix::fs::PermissionsExt;
    let (_tmp, root) = setup("");
    let file = root.join("gitiam.toml");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let is_root = id("-u") == [0];
    let (uid, gid) = if is_root {
        // Given away to nobody:nogroup, which root may keep for it.
        std::os::unix::fs::chown(&file, Some(65534), Some(65534)).unwrap();
        (65534, 65534)
    } else {
        // Another of the user's groups: a member may give it to a file.
        let primary = id("-g");
        let Some(other) = id("-G").into_iter().find(|g| !primary.contains(g)) else {
            common::skip(
                "the_owner_and_group_of_the_file_are_kept",
                "not root, and the test user has no supplementary group",
            );
            return;
        };
        std::os::unix::fs::chown(&file, None, Some(other)).unwrap();
        (owner(&file).0, other)
    };
    iam(&root, &["create-user", "--user-name", "carol"]).assert_success();
    assert!(text(&root).contains("name = \"carol\""));
    assert_eq!(
        owner(&file),
        (uid, gid, 0o640),
        "owner, group and mode kept"
    );
    // The lock file (empty) is readable as the configuration is, and has
    // its group, so that administrators sharing it share the lock.
    let lock = owner(&root.join("gitiam.toml.lock"));
    assert_eq!((lock.1, lock.2), (gid, 0o640));

    // A user who cannot give the file its owner back is refused, and the
    // file is left as it was: run as nobody on a root-owned file.
    if !is_root {
        return;
    }
    if !common::require_tool("iam_cli_owner", "setpriv", &["--version"]) {
        return;
    }
    let (_tmp2, other) = setup("");
    let file = other.join("gitiam.toml");
    // nobody may read the file and write next to it, not own it.
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let original = text(&other);
    let out = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(gitiam_for_nobody(&other))
        .current_dir(&other)
        .args(["iam", "create-user", "--user-name", "carol"])
        .run()
        .assert_code(1);
    let file = std::fs::canonicalize(&file).unwrap();
    out.assert_stderr_contains(&format!(
        "cannot keep the owner 0:0 of {}: run as its owner or root; the file is unchanged",
        file.display()
    ));
    assert_eq!(text(&other), original);
    assert_eq!(owner(&file), (0, 0, 0o644));
    let names: Vec<_> = std::fs::read_dir(&other)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
}

#[test]
fn concurrent_edits_are_all_kept() {
    let (_tmp, root) = setup("");
    let runs: Vec<_> = (0..8)
        .map(|i| {
            let root = root.clone();
            std::thread::spawn(move || {
                iam(&root, &["create-user", "--user-name", &format!("u{i}")]).assert_success();
            })
        })
        .collect();
    for run in runs {
        run.join().unwrap();
    }
    let users = iam_json(&root, &["list-users"]);
    let mut names: Vec<_> = users["Users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["UserName"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["alice", "u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"],
        "{}",
        text(&root)
    );
    // The result loads with the server's loader (not only toml_edit's parser).
    iam(&root, &["create-group", "--group-name", "after"]).assert_success();
}

#[test]
fn secrets_from_the_environment_are_not_needed_to_edit() {
    const LINE: &str =
        "  { id = \"AKIAALICE00000000001\", secret_env = \"GITIAM_TEST_UNSET_VAR\" },\n";
    let (_tmp, root) = setup("");
    let original = text(&root).replace(
        "  { id = \"AKIAALICE00000000001\", secret = \"alice-secret-0123456789abcdef\" },\n",
        LINE,
    );
    write(&root, "gitiam.toml", &original);
    let run = |args: &[&str]| {
        Command::new(common::bin("gitiam"))
            .current_dir(&root)
            .env_remove("GITIAM_TEST_UNSET_VAR")
            .arg("iam")
            .args(args)
            .run()
    };
    run(&["create-user", "--user-name", "bob"]).assert_success();
    let after = text(&root);
    assert!(after.contains(LINE), "{after}");
    assert_eq!(
        after.replacen("\n[[accounts.users]]\nname = \"bob\"\n", "", 1),
        original
    );
    let keys = run(&["list-access-keys", "--user-name", "alice"]).assert_success();
    assert!(
        keys.stdout.contains("AKIAALICE00000000001"),
        "{}",
        keys.stdout
    );
    // The server still needs the variable.
    let out = Command::new(common::bin("gitiam"))
        .env_remove("GITIAM_TEST_UNSET_VAR")
        .args(["serve", "--config"])
        .arg(root.join("gitiam.toml"))
        .args(["--listen", "127.0.0.1:0"])
        .run()
        .assert_code(2);
    out.assert_stderr_contains("secret_env: environment variable GITIAM_TEST_UNSET_VAR is not set");
}

#[test]
fn a_group_named_in_another_case_is_written_as_defined() {
    let (_tmp, root) = setup("");
    iam(&root, &["create-user", "--user-name", "bob"]).assert_success();
    let original = text(&root);
    let group =
        |verb: &str, name: &str| iam(&root, &[verb, "--group-name", name, "--user-name", "bob"]);
    group("add-user-to-group", "READERS").assert_success();
    let after = text(&root);
    assert!(
        after.contains("name = \"bob\"\ngroups = [\"readers\"]\n"),
        "{after}"
    );
    // Idempotent whatever the case, as in IAM.
    group("add-user-to-group", "Readers").assert_success();
    assert_eq!(text(&root), after);
    // Removing finds it in another case, too.
    group("remove-user-from-group", "READERS").assert_success();
    assert_eq!(
        text(&root),
        original.replace("name = \"bob\"\n", "name = \"bob\"\ngroups = []\n")
    );
}

#[test]
fn quotas_and_delete_conflicts_of_ssh_keys_and_git_credentials() {
    let (_tmp, root) = setup("");
    for user in ["bob", "carol"] {
        iam(&root, &["create-user", "--user-name", user]).assert_success();
    }
    let credential = |user: &str| {
        iam(
            &root,
            &[
                "create-service-specific-credential",
                "--user-name",
                user,
                "--service-name",
                "codecommit.amazonaws.com",
            ],
        )
    };
    credential("bob").assert_success();
    credential("bob").assert_success();
    let before = text(&root);
    credential("bob").assert_code(1).assert_stderr_contains(
        "An error occurred (LimitExceeded) when calling the CreateServiceSpecificCredential operation: Cannot exceed quota for ServiceSpecificCredentialsPerUserPerService: 2",
    );
    assert_eq!(text(&root), before);

    let upload = |user: &str, n: usize| {
        let pair = common::ssh::keygen(&root, &format!("{user}_key{n}"), "ed25519");
        iam(
            &root,
            &[
                "upload-ssh-public-key",
                "--user-name",
                user,
                "--ssh-public-key-body",
                &pair.public,
            ],
        )
    };
    for n in 0..5 {
        upload("bob", n).assert_success();
    }
    let before = text(&root);
    upload("bob", 5).assert_code(1).assert_stderr_contains(
        "An error occurred (LimitExceeded) when calling the UploadSSHPublicKey operation: Cannot exceed quota for PublicKeysPerUser: 5",
    );
    assert_eq!(text(&root), before);

    // bob has SSH keys (and credentials), carol only a credential.
    credential("carol").assert_success();
    let before = text(&root);
    iam(&root, &["delete-user", "--user-name", "bob"])
        .assert_code(1)
        .assert_stderr_contains("An error occurred (DeleteConflict) when calling the DeleteUser operation: Cannot delete entity, must delete SSH public keys first.");
    iam(&root, &["delete-user", "--user-name", "carol"])
        .assert_code(1)
        .assert_stderr_contains("An error occurred (DeleteConflict) when calling the DeleteUser operation: Cannot delete entity, must delete service-specific credentials first.");
    assert_eq!(text(&root), before);
}

/// `gitiam` where the user nobody can run it: linked (or copied) into
/// `dir/bin`. The build's own path may pass through folders that only
/// root may enter (a checkout under /root).
#[cfg(unix)]
fn gitiam_for_nobody(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = bin.join("gitiam");
    std::fs::hard_link(common::bin("gitiam"), &path)
        .or_else(|_| std::fs::copy(common::bin("gitiam"), &path).map(|_| ()))
        .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[cfg(unix)]
#[test]
fn a_read_only_folder_can_be_listed_but_not_edited() {
    use std::os::unix::fs::PermissionsExt;
    let (_tmp, root) = setup("");
    let is_root = id("-u") == [0];
    if is_root && !common::require_tool("iam_cli_read_only", "setpriv", &["--version"]) {
        return;
    }
    // Root writes anywhere: it runs the commands as nobody instead.
    let nobody_gitiam = gitiam_for_nobody(&root);
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o555)).unwrap();
    let run = |args: &[&str]| {
        let mut cmd = if is_root {
            let mut cmd = Command::new("setpriv");
            cmd.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
                .arg(&nobody_gitiam);
            cmd
        } else {
            Command::new(common::bin("gitiam"))
        };
        cmd.current_dir(&root).arg("iam").args(args).run()
    };
    let original = text(&root);
    let users = run(&["list-users"]).assert_success();
    assert!(
        users.stdout.contains("\"UserName\": \"alice\""),
        "{}",
        users.stdout
    );
    let lock = std::fs::canonicalize(&root)
        .unwrap()
        .join("gitiam.toml.lock");
    run(&["create-user", "--user-name", "bob"])
        .assert_code(1)
        .assert_stderr_contains(&format!("cannot lock {}", lock.display()));
    assert_eq!(text(&root), original);
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
}
