//! Authorization: JWTs (HS256 or RS256) whose `herald` claim lists the topic patterns
//! the bearer may publish and subscribe to.
//!
//! ```json
//! { "herald": { "publish": ["nop.noise.reading"], "subscribe": ["nop.>"] }, "exp": 1767225600 }
//! ```
//!
//! The token is taken from the `Authorization: Bearer` header, else the `herald_token`
//! cookie, else the `access_token` query parameter (EventSource cannot send headers).
//! `exp` and `nbf` are checked when present.

use std::collections::HashSet;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use herald_protocol::TopicPattern;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::{AppError, AppState};

/// The cookie a token may come in.
pub const TOKEN_COOKIE: &str = "herald_token";

/// How the gateway checks tokens: a shared HS256 secret, an RS256 public key, or both.
#[derive(Clone)]
pub struct Auth {
    hs256: Option<DecodingKey>,
    rs256: Option<DecodingKey>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("hs256", &self.hs256.is_some())
            .field("rs256", &self.rs256.is_some())
            .finish()
    }
}

/// A key that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid key: {0}")]
pub struct KeyError(String);

impl Auth {
    /// Accepts tokens signed with HS256 and `secret` (not empty).
    pub fn hs256(secret: &[u8]) -> Result<Self, KeyError> {
        if secret.is_empty() {
            return Err(KeyError("the HS256 secret is empty".into()));
        }
        Ok(Auth {
            hs256: Some(DecodingKey::from_secret(secret).map_err(|e| KeyError(e.to_string()))?),
            rs256: None,
        })
    }

    /// Accepts tokens signed with RS256 by the key whose public half is `pem` (a PEM
    /// `PUBLIC KEY` or `RSA PUBLIC KEY`).
    pub fn rs256(pem: &[u8]) -> Result<Self, KeyError> {
        Ok(Auth {
            hs256: None,
            rs256: Some(DecodingKey::from_rsa_pem(pem).map_err(|e| KeyError(e.to_string()))?),
        })
    }

    /// Also accepts tokens of `other`'s kinds.
    pub fn or(self, other: Auth) -> Self {
        Auth {
            hs256: self.hs256.or(other.hs256),
            rs256: self.rs256.or(other.rs256),
        }
    }

    /// The grants of a valid `token`; `Unauthorized` for anything else.
    pub fn verify(&self, token: &str) -> Result<Grants, AppError> {
        let unauthorized = |why: String| AppError::Unauthorized(format!("the token is not valid: {why}"));
        let header = jsonwebtoken::decode_header(token).map_err(|e| unauthorized(e.to_string()))?;
        let key = match header.alg {
            Algorithm::HS256 => self.hs256.as_ref(),
            Algorithm::RS256 => self.rs256.as_ref(),
            _ => None,
        }
        .ok_or_else(|| unauthorized(format!("tokens signed with {:?} are not accepted here", header.alg)))?;
        let mut validation = Validation::new(header.alg);
        validation.required_spec_claims = HashSet::new();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = 30;
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| unauthorized(e.to_string()))?;
        let parse = |patterns: Vec<String>| {
            patterns
                .into_iter()
                .map(|p| p.parse::<TopicPattern>().map_err(|e| unauthorized(format!("a `herald` grant: {e}"))))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Grants {
            publish: parse(data.claims.herald.publish)?,
            subscribe: parse(data.claims.herald.subscribe)?,
            admin: data.claims.herald.admin,
        })
    }
}

#[derive(Deserialize)]
struct Claims {
    herald: HeraldClaim,
}

#[derive(Deserialize)]
struct HeraldClaim {
    #[serde(default)]
    publish: Vec<String>,
    #[serde(default)]
    subscribe: Vec<String>,
    #[serde(default)]
    admin: bool,
}

/// What a bearer may do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grants {
    /// Event types it may publish match one of these.
    pub publish: Vec<TopicPattern>,
    /// Subscriptions it may make are covered by one of these.
    pub subscribe: Vec<TopicPattern>,
    /// It may manage the gateway's outbound webhook subscriptions (`"admin": true`).
    pub admin: bool,
}

/// The access of one request: everything (authorization is off) or a token's grants.
#[derive(Debug, Clone)]
pub enum Access {
    /// Authorization is off (`--dev-no-auth`).
    Open,
    /// A valid token's grants.
    Granted(Grants),
}

impl Access {
    /// `Forbidden` unless every pattern is covered by a subscribe grant; the grants to
    /// filter deliveries by (`None` when open).
    pub(crate) fn check_subscribe(&self, patterns: &[TopicPattern]) -> Result<Option<Vec<TopicPattern>>, AppError> {
        match self {
            Access::Open => Ok(None),
            Access::Granted(grants) => {
                for pattern in patterns {
                    if !grants.subscribe.iter().any(|g| g.covers(pattern)) {
                        return Err(AppError::Forbidden(format!(
                            "the token does not grant subscribing to `{pattern}`"
                        )));
                    }
                }
                Ok(Some(grants.subscribe.clone()))
            }
        }
    }

    /// `Forbidden` unless the token is an administrator's (`"admin": true`).
    pub(crate) fn check_admin(&self) -> Result<(), AppError> {
        match self {
            Access::Open => Ok(()),
            Access::Granted(grants) if grants.admin => Ok(()),
            Access::Granted(_) => Err(AppError::Forbidden("managing subscriptions takes a token with `\"admin\": true`".into())),
        }
    }

    /// `Forbidden` unless the token may publish events of type `ty`.
    pub(crate) fn check_publish(&self, ty: &str) -> Result<(), AppError> {
        match self {
            Access::Open => Ok(()),
            Access::Granted(grants) if grants.publish.iter().any(|g| g.matches(ty)) => Ok(()),
            Access::Granted(_) => Err(AppError::Forbidden(format!("the token does not grant publishing `{ty}`"))),
        }
    }
}

impl FromRequestParts<AppState> for Access {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if state.auth.is_none() {
            return Ok(Access::Open);
        }
        let token = token_of(parts).ok_or_else(|| {
            AppError::Unauthorized(format!(
                "a token is required: an `Authorization: Bearer` header, a `{TOKEN_COOKIE}` cookie or an \
                 `access_token` query parameter"
            ))
        })?;
        access_for(state, Some(&token))
    }
}

/// The access `token` gives (everything when authorization is off); `Unauthorized` for
/// no token or one that is not valid.
pub(crate) fn access_for(state: &AppState, token: Option<&str>) -> Result<Access, AppError> {
    let Some(auth) = &state.auth else {
        return Ok(Access::Open);
    };
    let token = token.ok_or_else(|| AppError::Unauthorized("a token is required".into()))?;
    auth.verify(token).map(Access::Granted)
}

fn token_of(parts: &Parts) -> Option<String> {
    let headers = &parts.headers;
    if let Some(value) = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (scheme, token) = value.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned());
    }
    for cookies in headers.get_all(axum::http::header::COOKIE) {
        for cookie in cookies.to_str().unwrap_or("").split(';') {
            if let Some((name, value)) = cookie.trim().split_once('=') {
                if name == TOKEN_COOKIE {
                    return Some(value.to_owned());
                }
            }
        }
    }
    form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .find(|(key, _)| key == "access_token")
        .map(|(_, value)| value.into_owned())
}
