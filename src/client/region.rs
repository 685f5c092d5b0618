//! The signing region: from a CodeCommit host name when git talks to AWS
//! (`git-codecommit.REGION.amazonaws.com`, `git-codecommit-fips.REGION...`,
//! `vpce-...git-codecommit.REGION.vpce.amazonaws.com`), otherwise from
//! `--region`, `AWS_REGION`, `AWS_DEFAULT_REGION` or the profile's `region`.

/// The region named by a CodeCommit host (port ignored), with the same rule
/// as the AWS CLI's helper:
/// `(vpce-.+\.)?git-codecommit(-fips)?\.([^.]+)\.(vpce\.)?amazonaws\.com`,
/// matched from the start of the host.
pub fn region_from_host(host: &str) -> Option<&str> {
    let host = crate::shared::sigv4::codecommit::host_without_port(host);
    // The optional `vpce-...` prefix ends at some `.` before
    // `git-codecommit`; try each candidate start as the regex would.
    let mut starts = vec![0usize];
    if host.starts_with("vpce-") {
        starts.extend(host.match_indices('.').map(|(i, _)| i + 1));
    }
    for start in starts {
        let Some(rest) = host.get(start..) else {
            continue;
        };
        let Some(rest) = rest.strip_prefix("git-codecommit") else {
            continue;
        };
        let rest = rest.strip_prefix("-fips").unwrap_or(rest);
        let Some(rest) = rest.strip_prefix('.') else {
            continue;
        };
        let Some((region, tail)) = rest.split_once('.') else {
            continue;
        };
        if region.is_empty() {
            continue;
        }
        let tail = tail.strip_prefix("vpce.").unwrap_or(tail);
        if tail.starts_with("amazonaws.com") {
            return Some(region);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecommit_host_forms() {
        assert_eq!(
            region_from_host("git-codecommit.us-east-1.amazonaws.com"),
            Some("us-east-1")
        );
        assert_eq!(
            region_from_host("git-codecommit.eu-west-3.amazonaws.com:443"),
            Some("eu-west-3")
        );
        assert_eq!(
            region_from_host("git-codecommit-fips.us-gov-west-1.amazonaws.com"),
            Some("us-gov-west-1")
        );
        assert_eq!(
            region_from_host(
                "vpce-0123456789abcdef-abcdefgh.git-codecommit.us-east-2.vpce.amazonaws.com"
            ),
            Some("us-east-2")
        );
        assert_eq!(
            region_from_host(
                "vpce-0123-abcd-us-east-1a.git-codecommit-fips.ca-central-1.vpce.amazonaws.com"
            ),
            Some("ca-central-1")
        );
    }

    #[test]
    fn other_hosts() {
        for h in [
            "git.example.com",
            "localhost:8443",
            "127.0.0.1",
            "git-codecommit.amazonaws.com",
            "xgit-codecommit.us-east-1.amazonaws.com",
            "git-codecommit.us-east-1.example.com",
        ] {
            assert_eq!(region_from_host(h), None, "{h}");
        }
    }
}
