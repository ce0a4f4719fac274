//! `herald.v1.Herald` over gRPC-web (and gRPC framing over HTTP/1.1): `Subscribe`, a
//! server stream of the shared feed, and unary `Publish`, with CloudEvents in the official
//! CloudEvents protobuf format (`io.cloudevents.v1.CloudEvent`). The code of the messages
//! and of the server is generated from `proto/` by the build script, with no protoc.
//!
//! `docs/protocol.md` §3.14 is the specification.

use std::pin::Pin;

use base64::Engine as _;
use futures_util::Stream;
use serde_json::{Map, Value};
use tonic::{Request, Response, Status};

use crate::auth::Access;
use crate::feed::{Feed, Filter, Item};
use crate::{AppError, AppState};

/// The generated code, in the modules of the proto packages.
#[allow(missing_docs, dead_code, clippy::all)]
pub mod proto {
    /// `package io.cloudevents.v1`.
    pub mod io {
        /// CloudEvents.
        pub mod cloudevents {
            /// The protobuf format, version 1.
            pub mod v1 {
                tonic::include_proto!("io.cloudevents.v1");
            }
        }
    }
    /// `package herald.v1`.
    pub mod herald {
        /// herald's service, version 1.
        pub mod v1 {
            tonic::include_proto!("herald.v1");
        }
    }
}

use proto::herald::v1::herald_server::{Herald, HeraldServer};
use proto::herald::v1::{PublishRequest, PublishResponse, SubscribeRequest};
use proto::io::cloudevents::v1::cloud_event::cloud_event_attribute_value::Attr;
use proto::io::cloudevents::v1::cloud_event::{CloudEventAttributeValue, Data};
use proto::io::cloudevents::v1::CloudEvent as ProtoEvent;

/// Where the service's methods are: `/herald.v1.Herald/Subscribe`, `…/Publish`.
pub(crate) const ROUTE: &str = "/herald.v1.Herald/{*method}";

/// The service, answering gRPC-web (and gRPC framing over HTTP/1.1), for [`ROUTE`].
pub(crate) fn service(state: &AppState) -> tonic_web::GrpcWebService<HeraldServer<Service>> {
    use tower::Layer;
    let server = HeraldServer::new(Service { state: state.clone() })
        .max_decoding_message_size(state.max_body_bytes)
        .max_encoding_message_size(usize::MAX);
    tonic_web::GrpcWebLayer::new().layer(server)
}

/// The `herald.v1.Herald` implementation.
pub(crate) struct Service {
    state: AppState,
}

type Events = Pin<Box<dyn Stream<Item = Result<ProtoEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Herald for Service {
    type SubscribeStream = Events;

    async fn subscribe(&self, request: Request<SubscribeRequest>) -> Result<Response<Events>, Status> {
        let access = access_of(&self.state, &request)?;
        let request = request.into_inner();
        if request.patterns.is_empty() {
            return Err(status(&AppError::BadRequest("give at least one pattern".into())));
        }
        let patterns = request
            .patterns
            .iter()
            .map(|p| p.parse())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| status(&AppError::from(e)))?;
        let resume = match request.from_position.as_str() {
            "" => None,
            position => Some(position.parse().map_err(|e| status(&AppError::from(e)))?),
        };
        let grants = access.check_subscribe(&patterns).map_err(|e| status(&e))?;
        let feed = Feed::open(&self.state, Filter { patterns, grants, subject: None }, resume)
            .await
            .map_err(|e| status(&e))?;
        let _connection = self.state.metrics.connection(crate::metrics::Transport::Grpc);
        let events = futures_util::stream::unfold(Some((feed, _connection)), |open| async move {
            let (mut feed, connection) = open?;
            let event = match feed.next().await? {
                Item::Event(stored) => to_proto(stored.ws_frame().as_str()),
                Item::Reset { head, notice } => {
                    to_proto(&crate::store::with_position(&serde_json::to_string(&notice).unwrap_or_default(), head))
                }
                // the stream ends with a status the client retries on, from its position
                Item::Drain(_) => {
                    let drain = "herald.drain: the gateway is shutting down; resume from your last position";
                    return Some((Err(Status::unavailable(drain)), None));
                }
                Item::Slow(_) => {
                    let slow = "herald.slow: the stream fell too far behind; resume from your last position";
                    return Some((Err(Status::resource_exhausted(slow)), None));
                }
            };
            Some((event, Some((feed, connection))))
        });
        Ok(Response::new(Box::pin(events)))
    }

    async fn publish(&self, request: Request<PublishRequest>) -> Result<Response<PublishResponse>, Status> {
        let access = access_of(&self.state, &request)?;
        let event = request
            .into_inner()
            .event
            .ok_or_else(|| status(&AppError::BadRequest("`event` is required".into())))?;
        let json = from_proto(event).map_err(|e| status(&e))?;
        let bytes = serde_json::to_vec(&json).map_err(|e| Status::internal(e.to_string()))?;
        let event = herald_protocol::CloudEvent::from_json(&bytes).map_err(|e| status(&AppError::from(e)))?;
        access.check_publish(&event.ty).map_err(|e| status(&e))?;
        let position = crate::ingest::store(&self.state, vec![event], bytes.len(), "grpc").await.map_err(|e| status(&e))?[0];
        Ok(Response::new(PublishResponse { position: position.to_string() }))
    }
}

/// The bearer's access: its token in the `authorization` metadata (`Bearer …`).
fn access_of<T>(state: &AppState, request: &Request<T>) -> Result<Access, Status> {
    let token = request
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    crate::auth::access_for(state, token).map_err(|e| status(&e))
}

/// The gRPC status of what the HTTP routes would answer.
fn status(error: &AppError) -> Status {
    let message = error.to_string();
    match error.status().as_u16() {
        400 | 413 | 415 => Status::invalid_argument(message),
        401 => Status::unauthenticated(message),
        403 => Status::permission_denied(message),
        404 => Status::not_found(message),
        409 => Status::already_exists(message),
        408 | 503 => Status::unavailable(message),
        _ => Status::internal(message),
    }
}

/// A stored event (its structured-mode JSON, `heraldposition` included) in the protobuf
/// format: the JSON data as `text_data`, `data_base64` as `binary_data`, `time` as a
/// Timestamp, `dataschema` as a URI, integers and booleans as themselves, every other
/// attribute as a string.
fn to_proto(json: &str) -> Result<ProtoEvent, Status> {
    let Ok(Value::Object(members)) = serde_json::from_str::<Value>(json) else {
        return Err(Status::internal("a stored event is not a JSON object"));
    };
    let mut event = ProtoEvent::default();
    for (name, value) in members {
        let attr = match (name.as_str(), value) {
            ("id", Value::String(v)) => {
                event.id = v;
                continue;
            }
            ("source", Value::String(v)) => {
                event.source = v;
                continue;
            }
            ("specversion", Value::String(v)) => {
                event.spec_version = v;
                continue;
            }
            ("type", Value::String(v)) => {
                event.r#type = v;
                continue;
            }
            ("data", value) => {
                event.data = Some(Data::TextData(match value {
                    Value::String(text) => text,
                    other => other.to_string(),
                }));
                continue;
            }
            ("data_base64", Value::String(v)) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v.as_bytes())
                    .map_err(|e| Status::internal(format!("a stored data_base64: {e}")))?;
                event.data = Some(Data::BinaryData(bytes));
                continue;
            }
            ("time", Value::String(v)) => match chrono::DateTime::parse_from_rfc3339(&v) {
                Ok(at) => Attr::CeTimestamp(prost_types::Timestamp {
                    seconds: at.timestamp(),
                    nanos: at.timestamp_subsec_nanos() as i32,
                }),
                Err(_) => Attr::CeString(v),
            },
            ("dataschema", Value::String(v)) => Attr::CeUri(v),
            (_, Value::Bool(b)) => Attr::CeBoolean(b),
            (_, Value::Number(n)) => match n.as_i64().and_then(|n| i32::try_from(n).ok()) {
                Some(n) => Attr::CeInteger(n),
                None => Attr::CeString(n.to_string()),
            },
            (_, Value::String(v)) => Attr::CeString(v),
            (_, Value::Null) => continue,
            (_, other) => Attr::CeString(other.to_string()),
        };
        event.attributes.insert(name, CloudEventAttributeValue { attr: Some(attr) });
    }
    Ok(event)
}

/// A protobuf CloudEvent as its JSON format, for the same validation as every event: a
/// `text_data` whose `datacontenttype` is JSON (or absent) is the JSON value it holds,
/// any other text a string; `binary_data` becomes `data_base64`.
fn from_proto(event: ProtoEvent) -> Result<Value, AppError> {
    let mut members = Map::new();
    members.insert("specversion".into(), event.spec_version.into());
    members.insert("id".into(), event.id.into());
    members.insert("source".into(), event.source.into());
    members.insert("type".into(), event.r#type.into());
    for (name, value) in event.attributes {
        if ["specversion", "id", "source", "type", "data", "data_base64"].contains(&name.as_str()) {
            return Err(AppError::BadRequest(format!("`{name}` is not an attribute of `attributes`")));
        }
        let value = match value.attr {
            Some(Attr::CeBoolean(b)) => Value::Bool(b),
            Some(Attr::CeInteger(n)) => Value::from(n),
            Some(Attr::CeString(s) | Attr::CeUri(s) | Attr::CeUriRef(s)) => Value::String(s),
            Some(Attr::CeBytes(bytes)) => Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
            Some(Attr::CeTimestamp(at)) => {
                let time = chrono::DateTime::from_timestamp(at.seconds, u32::try_from(at.nanos).unwrap_or(u32::MAX))
                    .ok_or_else(|| AppError::BadRequest(format!("attribute `{name}`: a timestamp out of range")))?;
                Value::String(time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            }
            None => return Err(AppError::BadRequest(format!("attribute `{name}` has no value"))),
        };
        members.insert(name, value);
    }
    let json_data = members
        .get("datacontenttype")
        .and_then(Value::as_str)
        .is_none_or(|media| media == "application/json" || media.ends_with("+json") || media.starts_with("application/json;"));
    match event.data {
        None => {}
        Some(Data::TextData(text)) if json_data => {
            let value = serde_json::from_str(&text)
                .map_err(|e| AppError::BadRequest(format!("`text_data` of a JSON event is not JSON: {e}")))?;
            members.insert("data".into(), value);
        }
        Some(Data::TextData(text)) => {
            members.insert("data".into(), Value::String(text));
        }
        Some(Data::BinaryData(bytes)) => {
            members.insert("data_base64".into(), base64::engine::general_purpose::STANDARD.encode(bytes).into());
        }
        Some(Data::ProtoData(_)) => {
            return Err(AppError::UnsupportedMediaType("`proto_data` is not taken: send JSON as `text_data`".into()));
        }
    }
    Ok(Value::Object(members))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_goes_to_protobuf_and_back_to_the_same_json() {
        let json = r#"{"heraldposition":"1-7","specversion":"1.0","id":"a","source":"/s","type":"t.x","time":"2026-12-02T10:00:00.5Z","datacontenttype":"application/json","dataversion":2,"flag":true,"data":{"db":61.5}}"#;
        let event = to_proto(json).unwrap();
        assert_eq!(event.id, "a");
        assert_eq!(event.attributes["heraldposition"].attr, Some(Attr::CeString("1-7".into())));
        assert_eq!(event.attributes["dataversion"].attr, Some(Attr::CeInteger(2)));
        assert!(matches!(event.attributes["time"].attr, Some(Attr::CeTimestamp(_))));
        assert_eq!(event.data, Some(Data::TextData(r#"{"db":61.5}"#.into())));
        let back = from_proto(event).unwrap();
        assert_eq!(back["time"], "2026-12-02T10:00:00.500Z");
        assert_eq!(back["data"]["db"], 61.5);
        assert_eq!(back["flag"], true);
    }

    #[test]
    fn bad_protobuf_events_are_refused() {
        let mut event = ProtoEvent { id: "a".into(), source: "/s".into(), spec_version: "1.0".into(), r#type: "t".into(), ..Default::default() };
        event.data = Some(Data::TextData("not json".into()));
        assert!(matches!(from_proto(event.clone()), Err(AppError::BadRequest(_))));
        event.data = Some(Data::ProtoData(prost_types::Any::default()));
        assert!(matches!(from_proto(event.clone()), Err(AppError::UnsupportedMediaType(_))));
        event.data = None;
        event.attributes.insert("id".into(), CloudEventAttributeValue { attr: Some(Attr::CeString("b".into())) });
        assert!(from_proto(event).is_err());
    }
}
