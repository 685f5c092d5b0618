//! The SSH exec command line (`gitiam::server::ssh::command::parse`):
//! `git-upload-pack '/v1/repos/NAME'` or `git-receive-pack ...`, as git
//! sends it, and `GIT_PROTOCOL` values.
//!
//! Input: the exec request's bytes.
//! Checked: an accepted command is one of the two Git programs followed by
//! the path it reports, that path names `/v1/repos/` + a valid repository
//! name (optionally without the leading slash or with one trailing slash),
//! and the canonical spelling of the same command parses to the same value.
#![no_main]

use gitiam::server::ssh::command::{parse, valid_git_protocol};
use gitiam::shared::git::{GitService, RepoName};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = valid_git_protocol(data);
    let Ok(cmd) = parse(data) else {
        return;
    };
    let text = std::str::from_utf8(data).expect("accepted commands are UTF-8");
    let program = match cmd.service {
        GitService::UploadPack => "git-upload-pack ",
        GitService::ReceivePack => "git-receive-pack ",
    };
    assert!(text.starts_with(program), "{text:?}");
    assert!(text.contains(&cmd.path), "{text:?}");
    assert!(!cmd.path.bytes().any(|b| b <= b' ' || b"'\"\\".contains(&b)));
    assert_eq!(RepoName::parse(cmd.repo.as_str()).as_ref(), Ok(&cmd.repo));
    let relative = cmd.path.strip_prefix('/').unwrap_or(&cmd.path);
    let name = relative
        .strip_prefix("v1/repos/")
        .expect("the path is under /v1/repos/");
    assert_eq!(name.strip_suffix('/').unwrap_or(name), cmd.repo.as_str());
    let canonical = format!("{program}'/v1/repos/{}'", cmd.repo);
    let again = parse(canonical.as_bytes()).expect("the canonical spelling parses");
    assert_eq!(again.service, cmd.service);
    assert_eq!(again.repo, cmd.repo);
});
