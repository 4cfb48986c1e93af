//! GitHub's credentials: a token used as it is, or a GitHub App's JSON Web Token (RS256, signed
//! with the App's private key) and the installation tokens it buys, cached until they are near
//! their end.
//!
//! This module owns the pure parts: reading the private key, the JWT's claims, reading an
//! installation token out of GitHub's answer, and when a cached token is still good. The requests
//! themselves are sent by [`super::GitHub`]. It must never show a key, a JWT or a token: its
//! errors name the Secret key (`githubAppPrivateKey`) or the field, never the value, and it never
//! checks a token's length or shape (GitHub's `ghs_APPID_JWT` tokens are long and may change).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::forge::{ForgeError, ForgeKind};

/// How far back a JWT's `iat` is set, against clocks that run ahead of GitHub's.
pub(super) const JWT_BACKDATE: Duration = Duration::from_secs(60);
/// A JWT's life after `iat`: GitHub refuses an `exp` more than 10 minutes ahead, so 9 minutes
/// after a backdated `iat` (8 minutes from now) leaves room for a clock that runs behind.
pub(super) const JWT_LIFETIME: Duration = Duration::from_secs(9 * 60);
/// An installation token with fewer minutes than this left is renewed before it is used.
pub(super) const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The claims of a GitHub App JWT (GitHub's docs: "Generating a JSON Web Token for a GitHub
/// App").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct Claims {
    /// Issued at, Unix seconds, [`JWT_BACKDATE`] in the past.
    pub iat: u64,
    /// Expires at, Unix seconds.
    pub exp: u64,
    /// The App's id or client id.
    pub iss: String,
}

impl Claims {
    pub(super) fn new(app_id: &str, now: SystemTime) -> Claims {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let iat = now.saturating_sub(JWT_BACKDATE);
        Claims {
            iat: iat.as_secs(),
            exp: (iat + JWT_LIFETIME).as_secs(),
            iss: app_id.to_owned(),
        }
    }
}

/// A GitHub App's signing half: its id and private key.
pub(super) struct AppKey {
    app_id: String,
    key: EncodingKey,
}

impl std::fmt::Debug for AppKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppKey")
            .field("app_id", &self.app_id)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl AppKey {
    /// Reads the App's RSA private key (PEM, PKCS#1 `RSA PRIVATE KEY` as GitHub hands it out, or
    /// PKCS#8 `PRIVATE KEY`) and signs one JWT with it, so that a key that cannot sign fails
    /// here, before anything is sent.
    pub(super) fn new(app_id: &str, private_key_pem: &str) -> Result<AppKey, ForgeError> {
        let config = |problem: String| ForgeError::Config {
            forge: ForgeKind::GitHub,
            problem,
        };
        let app_id = app_id.trim();
        if app_id.is_empty() {
            return Err(config(
                "the GitHub App's id is empty: set githubAppID to the App's id or client id"
                    .to_owned(),
            ));
        }
        const REMEDY: &str = "githubAppPrivateKey must hold the App's private key as GitHub \
            generated it (a PEM file that begins with -----BEGIN RSA PRIVATE KEY-----)";
        let key = EncodingKey::from_rsa_pem(private_key_pem.trim().as_bytes()).map_err(|e| {
            config(format!(
                "the GitHub App private key (Secret key githubAppPrivateKey) is not an RSA private key in PEM form ({}); {REMEDY}",
                key_problem(&e)
            ))
        })?;
        let app = AppKey {
            app_id: app_id.to_owned(),
            key,
        };
        app.jwt(SystemTime::now()).map_err(|e| {
            config(format!(
                "the GitHub App private key (Secret key githubAppPrivateKey) cannot sign ({}); {REMEDY}",
                key_problem(&e)
            ))
        })?;
        Ok(app)
    }

    pub(super) fn app_id(&self) -> &str {
        &self.app_id
    }

    /// A JWT for the App's own endpoints (`GET /app`, the installation, its tokens).
    pub(super) fn jwt(&self, now: SystemTime) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &Claims::new(&self.app_id, now),
            &self.key,
        )
    }
}

/// What went wrong with a key, in words that cannot quote it.
fn key_problem(e: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::InvalidKeyFormat => "the PEM block is not a key of a known form",
        ErrorKind::InvalidRsaKey(_) => "the RSA key does not parse",
        ErrorKind::InvalidEcdsaKey => "it is an ECDSA key, not RSA",
        ErrorKind::Base64(_) => "the PEM block is not Base64",
        ErrorKind::RsaFailedSigning | ErrorKind::Signing(_) => {
            "the crypto library cannot sign with it"
        }
        _ => "no PEM block was found",
    }
}

/// An installation token and when it ends.
#[derive(Clone)]
pub(super) struct InstallationToken {
    pub token: String,
    pub expires_at: SystemTime,
}

impl std::fmt::Debug for InstallationToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallationToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl InstallationToken {
    /// Whether it may still be used at `now`: more than [`REFRESH_MARGIN`] left.
    pub(super) fn fresh(&self, now: SystemTime) -> bool {
        self.expires_at
            .duration_since(now)
            .is_ok_and(|left| left > REFRESH_MARGIN)
    }
}

/// Reads `POST /app/installations/{id}/access_tokens`'s 201 (`installation-token`: `token`*,
/// `expires_at`*). The problem it returns never quotes the body: it holds the token.
pub(super) fn parse_installation_token(body: &[u8]) -> Result<InstallationToken, String> {
    #[derive(serde::Deserialize)]
    struct Body {
        token: String,
        expires_at: String,
    }
    let parsed: Body = serde_json::from_slice(body).map_err(|e| {
        format!(
            "not an installation token with `token` and `expires_at` ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        )
    })?;
    if parsed.token.is_empty() {
        return Err("the installation token is empty".to_owned());
    }
    let expires_at: jiff::Timestamp = parsed.expires_at.parse().map_err(|_| {
        format!(
            "expires_at {:?} is not an RFC 3339 time",
            parsed.expires_at.chars().take(40).collect::<String>()
        )
    })?;
    Ok(InstallationToken {
        token: parsed.token,
        expires_at: SystemTime::from(expires_at),
    })
}

#[cfg(test)]
pub(crate) mod test_key {
    //! An RSA key pair made at test time (no private key is committed), in the forms GitHub
    //! hands out and the forms the JWT library reads.

    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::KeyPair as _;
    use base64::Engine as _;

    pub(crate) struct TestKey {
        /// PKCS#1 `RSA PRIVATE KEY`, as GitHub's App settings page hands it out.
        pub pkcs1_pem: String,
        /// PKCS#8 `PRIVATE KEY`, as `openssl pkcs8 -topk8` converts it.
        pub pkcs8_pem: String,
        /// PKCS#1 `RSAPublicKey` DER, for [`jsonwebtoken::DecodingKey::from_rsa_der`].
        pub public_der: Vec<u8>,
    }

    pub(crate) fn generate() -> TestKey {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("generate an RSA key");
        let pkcs8 = pair.as_der().expect("PKCS#8 DER").as_ref().to_vec();
        let pkcs1 = pkcs1_of(&pkcs8);
        TestKey {
            pkcs1_pem: pem("RSA PRIVATE KEY", pkcs1),
            pkcs8_pem: pem("PRIVATE KEY", &pkcs8),
            public_der: pair.public_key().as_ref().to_vec(),
        }
    }

    /// The PKCS#1 key inside an RSA PKCS#8 `PrivateKeyInfo`: `SEQUENCE { INTEGER 0,
    /// SEQUENCE { OID rsaEncryption, NULL }, OCTET STRING { RSAPrivateKey } }`, whose prefix is
    /// fixed for a 2048-bit key.
    fn pkcs1_of(pkcs8: &[u8]) -> &[u8] {
        const ALGORITHM: [u8; 18] = [
            0x02, 0x01, 0x00, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
            0x01, 0x01, 0x05, 0x00,
        ];
        assert_eq!(
            &pkcs8[..2],
            &[0x30, 0x82],
            "PKCS#8 begins with a long SEQUENCE"
        );
        assert_eq!(&pkcs8[4..22], &ALGORITHM, "PKCS#8 of rsaEncryption");
        assert_eq!(&pkcs8[22..24], &[0x04, 0x82], "an OCTET STRING follows");
        let len = usize::from(pkcs8[24]) << 8 | usize::from(pkcs8[25]);
        assert_eq!(26 + len, pkcs8.len(), "the OCTET STRING ends the key");
        &pkcs8[26..]
    }

    fn pem(label: &str, der: &[u8]) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("Base64 is ASCII"))
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn the_jwt_is_rs256_with_the_claims_github_asks_for() {
        let key = test_key::generate();
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        for (form, pem) in [("PKCS#1", &key.pkcs1_pem), ("PKCS#8", &key.pkcs8_pem)] {
            let app = AppKey::new("Iv1.8a61f9b3a7aba766", pem).expect(form);
            let jwt = app.jwt(now).expect(form);
            let header = jsonwebtoken::decode_header(&jwt).expect(form);
            assert_eq!(header.alg, Algorithm::RS256, "{form}");
            let mut validation = Validation::new(Algorithm::RS256);
            // The claims are of a fixed past time: check the signature and read them.
            validation.validate_exp = false;
            validation.set_required_spec_claims(&["iat", "exp", "iss"]);
            let claims = jsonwebtoken::decode::<Claims>(
                &jwt,
                &DecodingKey::from_rsa_der(&key.public_der),
                &validation,
            )
            .expect(form)
            .claims;
            assert_eq!(
                claims,
                Claims {
                    iat: 1_800_000_000 - 60,
                    exp: 1_800_000_000 - 60 + 9 * 60,
                    iss: "Iv1.8a61f9b3a7aba766".to_owned(),
                },
                "{form}"
            );
        }
    }

    #[test]
    fn a_jwt_from_another_key_does_not_verify() {
        let (ours, theirs) = (test_key::generate(), test_key::generate());
        let app = AppKey::new("1", &theirs.pkcs1_pem).expect("key");
        let jwt = app.jwt(SystemTime::now()).expect("jwt");
        let verified = jsonwebtoken::decode::<Claims>(
            &jwt,
            &DecodingKey::from_rsa_der(&ours.public_der),
            &Validation::new(Algorithm::RS256),
        );
        assert!(verified.is_err(), "a foreign signature was accepted");
    }

    #[test]
    fn the_claims_stay_within_githubs_ten_minutes() {
        let now = SystemTime::now();
        let claims = Claims::new("42", now);
        let now = now
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        assert_eq!(claims.iat, now - 60);
        assert!(claims.exp > now && claims.exp <= now + 600, "{claims:?}");
        assert_eq!(claims.iss, "42");
    }

    #[test]
    fn a_bad_key_fails_naming_the_secret_key_and_never_quoting_it() {
        let key = test_key::generate();
        let truncated = key.pkcs1_pem[..key.pkcs1_pem.len() / 2].to_owned()
            + "\n-----END RSA PRIVATE KEY-----\n";
        let public_pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
        let cases: [(&str, &str, &str); 5] = [
            ("not PEM", "hunter2-not-a-key", "githubAppPrivateKey"),
            ("truncated", &truncated, "githubAppPrivateKey"),
            ("a public key", public_pem, "githubAppPrivateKey"),
            ("empty", "", "githubAppPrivateKey"),
            ("no app id", &key.pkcs1_pem, "githubAppID"),
        ];
        for (what, pem, names) in cases {
            let app_id = if what == "no app id" { " " } else { "1" };
            match AppKey::new(app_id, pem) {
                Err(e @ ForgeError::Config { .. }) => {
                    let message = e.to_string();
                    assert!(message.contains(names), "{what}: {message}");
                    assert!(!message.contains("hunter2"), "{what}: {message}");
                    let body = pem.lines().nth(1).unwrap_or("hunter2");
                    assert!(!message.contains(body), "{what} quotes the key: {message}");
                }
                other => panic!("{what}: a bad key was taken: {other:?}"),
            }
        }
    }

    #[test]
    fn a_token_is_renewed_when_fewer_than_five_minutes_remain() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let cases = [
            (Duration::from_secs(3600), true),
            (Duration::from_secs(301), true),
            (Duration::from_secs(300), false),
            (Duration::from_secs(10), false),
        ];
        for (left, fresh) in cases {
            let token = InstallationToken {
                token: "t".to_owned(),
                expires_at: now + left,
            };
            assert_eq!(token.fresh(now), fresh, "{left:?} left");
        }
        let expired = InstallationToken {
            token: "t".to_owned(),
            expires_at: now - Duration::from_secs(1),
        };
        assert!(!expired.fresh(now));
    }

    #[test]
    fn installation_tokens_are_read_whatever_their_shape_and_never_quoted() {
        let long = format!("ghs_12345_{}", "x".repeat(900));
        let ok = [
            (
                r#"{"token":"ghs_16C7e42F292c6912E7710c838347Ae178B4a","expires_at":"2016-07-11T22:14:10Z"}"#.to_owned(),
                "ghs_16C7e42F292c6912E7710c838347Ae178B4a".to_owned(),
                1_468_275_250,
            ),
            (
                format!(r#"{{"token":"{long}","expires_at":"2026-05-01T10:00:00+02:00","permissions":{{}}}}"#),
                long.clone(),
                1_777_622_400,
            ),
        ];
        for (body, token, epoch) in ok {
            let parsed = parse_installation_token(body.as_bytes()).expect(&body);
            assert_eq!(parsed.token, token);
            assert_eq!(parsed.expires_at, UNIX_EPOCH + Duration::from_secs(epoch));
        }
        let bad = [
            r#"{"token":"s3cr3t-token"}"#,
            r#"{"token":"s3cr3t-token","expires_at":"tomorrow"}"#,
            r#"{"token":"","expires_at":"2016-07-11T22:14:10Z"}"#,
            r#"{"token":42,"expires_at":"s3cr3t-token"}"#,
            "s3cr3t-token",
        ];
        for body in bad {
            match parse_installation_token(body.as_bytes()) {
                Err(problem) => assert!(!problem.contains("s3cr3t"), "{body}: {problem}"),
                Ok(t) => panic!("{body}: read as {t:?}"),
            }
        }
    }
}
