//! Standard Webhooks signatures (standardwebhooks.com): the key is the
//! bytes after `whsec_`; the signature is
//! `v1,` + base64(HMAC-SHA256(key, id + "." + timestamp + "." + body)),
//! sent in `webhook-signature` next to `webhook-id` and
//! `webhook-timestamp` (Unix seconds of the attempt).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::shared::config::webhooks::WebhookSecret;

/// The `webhook-signature` value for one attempt.
pub fn signature(secret: &WebhookSecret, id: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.expose()) {
        Ok(m) => m,
        // HMAC takes keys of any length.
        Err(_) => return String::new(),
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference libraries' tests.
    #[test]
    fn reference_vector() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = signature(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
