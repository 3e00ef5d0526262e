//! Reading a Cloud API webhook body: `entry[].changes[].value` with its
//! `messages[]`, `statuses[]` and `contacts[]`, tolerant of what it does not
//! know (ignored and counted, never an error).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use layan_core::store::unix_ms;
use layan_core::{Content, Inbound, OutboxUpdate};
use serde_json::Value;

use crate::NAME;

/// What one webhook body holds.
#[derive(Debug, Default, PartialEq)]
pub struct Parsed {
    /// Citizens' messages, in the order they appear.
    pub messages: Vec<Inbound>,
    /// Delivery statuses of messages we sent.
    pub statuses: Vec<OutboxUpdate>,
    /// What was ignored, by kind (`type:reaction`, `field:account_update`, …).
    pub ignored: Vec<String>,
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn time_of(v: &Value) -> SystemTime {
    str_of(v, "timestamp")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or_else(SystemTime::now, |s| UNIX_EPOCH + Duration::from_secs(s))
}

/// Parses a webhook body. Never fails: anything not understood is listed
/// in [`Parsed::ignored`].
#[must_use]
pub fn parse(body: &Value) -> Parsed {
    let mut out = Parsed::default();
    if body.get("object").and_then(Value::as_str) != Some("whatsapp_business_account") {
        out.ignored.push("object".to_owned());
        return out;
    }
    let entries = body.get("entry").and_then(Value::as_array);
    for change in entries
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("changes").and_then(Value::as_array))
        .flatten()
    {
        let field = str_of(change, "field").unwrap_or("messages");
        if field != "messages" {
            out.ignored.push(format!("field:{field}"));
            continue;
        }
        let Some(value) = change.get("value") else {
            out.ignored.push("change".to_owned());
            continue;
        };
        // Profile names by every id a contact carries.
        let mut names: HashMap<&str, String> = HashMap::new();
        for c in value
            .get("contacts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = c.pointer("/profile/name").and_then(Value::as_str) {
                for key in ["wa_id", "user_id"] {
                    if let Some(id) = str_of(c, key) {
                        names.insert(id, name.to_owned());
                    }
                }
            }
        }
        for m in value
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match message(m) {
                Ok(mut inbound) => {
                    inbound.profile_name = names.get(inbound.user.as_str()).cloned();
                    out.messages.push(inbound);
                }
                Err(kind) => out.ignored.push(kind),
            }
        }
        for s in value
            .get("statuses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match (str_of(s, "id"), str_of(s, "status")) {
                (Some(id), Some(status)) => {
                    let error = s.pointer("/errors/0").map(|e| {
                        let code = e.get("code").and_then(Value::as_i64).unwrap_or(0);
                        let title = str_of(e, "title")
                            .or_else(|| str_of(e, "message"))
                            .unwrap_or("");
                        format!("{code}: {title}")
                    });
                    out.statuses.push(OutboxUpdate::Status {
                        channel: NAME.to_owned(),
                        provider_id: id.to_owned(),
                        status: status.to_owned(),
                        error,
                        time_ms: unix_ms(time_of(s)),
                    });
                }
                _ => out.ignored.push("status".to_owned()),
            }
        }
    }
    out
}

/// One message, or the kind of thing it was when it is not one we take.
fn message(m: &Value) -> Result<Inbound, String> {
    let user = str_of(m, "from")
        .or_else(|| str_of(m, "user_id"))
        .ok_or("sender")?;
    let id = str_of(m, "id").ok_or("id")?;
    let kind = str_of(m, "type").unwrap_or("unknown");
    let body = m.get(kind);
    let content = match kind {
        "text" => Content::Text(
            body.and_then(|b| str_of(b, "body"))
                .unwrap_or_default()
                .to_owned(),
        ),
        "interactive" => {
            let b = body.ok_or("type:interactive")?;
            let reply = b
                .get("button_reply")
                .or_else(|| b.get("list_reply"))
                .ok_or_else(|| format!("interactive:{}", str_of(b, "type").unwrap_or("?")))?;
            Content::Payload(
                str_of(reply, "id")
                    .or_else(|| str_of(reply, "title"))
                    .ok_or("interactive:id")?
                    .to_owned(),
            )
        }
        // A template's quick-reply button.
        "button" => Content::Payload(
            body.and_then(|b| str_of(b, "payload").or_else(|| str_of(b, "text")))
                .ok_or("button:payload")?
                .to_owned(),
        ),
        "location" => {
            let b = body.ok_or("type:location")?;
            Content::Location {
                latitude: b
                    .get("latitude")
                    .and_then(Value::as_f64)
                    .ok_or("location")?,
                longitude: b
                    .get("longitude")
                    .and_then(Value::as_f64)
                    .ok_or("location")?,
            }
        }
        "image" | "document" | "audio" | "video" | "sticker" => {
            let b = body.ok_or_else(|| format!("type:{kind}"))?;
            Content::Media {
                kind: kind.to_owned(),
                reference: str_of(b, "id").ok_or("media:id")?.to_owned(),
                caption: str_of(b, "caption").map(str::to_owned),
            }
        }
        other => return Err(format!("type:{other}")),
    };
    Ok(Inbound {
        channel: NAME.to_owned(),
        user: user.to_owned(),
        message_id: id.to_owned(),
        content,
        time: time_of(m),
        profile_name: None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn wrap(value: Value) -> Value {
        json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": "WABA", "changes": [{ "field": "messages", "value": value }] }]
        })
    }

    #[test]
    fn every_kind_of_message_is_read() {
        let body = wrap(json!({
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550001111", "phone_number_id": "1234" },
            "contacts": [{ "profile": { "name": "Budi" }, "wa_id": "6281234567890" },
                         { "profile": { "name": "Sari" }, "user_id": "ID.99887766" }],
            "messages": [
                { "from": "6281234567890", "id": "wamid.1", "timestamp": "1764000000", "type": "text", "text": { "body": "gmn cara bikin izin usaha?" } },
                { "from": "6281234567890", "id": "wamid.2", "timestamp": "1764000001", "type": "interactive",
                  "interactive": { "type": "button_reply", "button_reply": { "id": "izin_usaha", "title": "Izin usaha" } } },
                { "from": "6281234567890", "id": "wamid.3", "timestamp": "1764000002", "type": "interactive",
                  "interactive": { "type": "list_reply", "list_reply": { "id": "halal", "title": "Sertifikat halal", "description": "…" } } },
                { "from": "6281234567890", "id": "wamid.4", "timestamp": "1764000003", "type": "button",
                  "button": { "payload": "menu", "text": "Menu" } },
                { "from": "6281234567890", "id": "wamid.5", "timestamp": "1764000004", "type": "location",
                  "location": { "latitude": -3.78, "longitude": 102.26, "name": "Pasar" } },
                { "from": "6281234567890", "id": "wamid.6", "timestamp": "1764000005", "type": "image",
                  "image": { "id": "MEDIA1", "mime_type": "image/jpeg", "sha256": "x", "caption": "timbangan" } },
                { "from": "6281234567890", "id": "wamid.7", "timestamp": "1764000006", "type": "document",
                  "document": { "id": "MEDIA2", "filename": "proposal.pdf", "mime_type": "application/pdf" } },
                { "from": "6281234567890", "id": "wamid.8", "timestamp": "1764000007", "type": "audio",
                  "audio": { "id": "MEDIA3", "mime_type": "audio/ogg", "voice": true } },
                { "user_id": "ID.99887766", "id": "wamid.9", "timestamp": "1764000008", "type": "text", "text": { "body": "halo" } },
                { "from": "6281234567890", "id": "wamid.10", "timestamp": "1764000009", "type": "reaction",
                  "reaction": { "message_id": "wamid.out", "emoji": "👍" } },
                { "from": "6281234567890", "id": "wamid.11", "type": "unsupported", "errors": [{ "code": 131051 }] }
            ]
        }));
        let p = parse(&body);
        let contents: Vec<&Content> = p.messages.iter().map(|m| &m.content).collect();
        assert_eq!(
            contents,
            [
                &Content::Text("gmn cara bikin izin usaha?".into()),
                &Content::Payload("izin_usaha".into()),
                &Content::Payload("halal".into()),
                &Content::Payload("menu".into()),
                &Content::Location {
                    latitude: -3.78,
                    longitude: 102.26
                },
                &Content::Media {
                    kind: "image".into(),
                    reference: "MEDIA1".into(),
                    caption: Some("timbangan".into())
                },
                &Content::Media {
                    kind: "document".into(),
                    reference: "MEDIA2".into(),
                    caption: None
                },
                &Content::Media {
                    kind: "audio".into(),
                    reference: "MEDIA3".into(),
                    caption: None
                },
                &Content::Text("halo".into()),
            ]
        );
        assert_eq!(p.messages[0].user, "6281234567890");
        assert_eq!(p.messages[0].message_id, "wamid.1");
        assert_eq!(p.messages[0].profile_name.as_deref(), Some("Budi"));
        assert_eq!(unix_ms(p.messages[0].time), 1_764_000_000_000);
        assert_eq!(
            p.messages[8].user, "ID.99887766",
            "a business-scoped id when no phone"
        );
        assert_eq!(p.messages[8].profile_name.as_deref(), Some("Sari"));
        assert_eq!(p.ignored, ["type:reaction", "type:unsupported"]);
    }

    #[test]
    fn statuses_and_several_entries_are_read() {
        let body = json!({
            "object": "whatsapp_business_account",
            "entry": [
                { "id": "A", "changes": [{ "field": "messages", "value": {
                    "statuses": [
                        { "id": "wamid.out1", "status": "delivered", "timestamp": "1764000100", "recipient_id": "6281234567890" },
                        { "id": "wamid.out2", "status": "failed", "timestamp": "1764000101", "recipient_id": "6281234567890",
                          "errors": [{ "code": 131047, "title": "Re-engagement message" }] }
                    ]}}]},
                { "id": "B", "changes": [
                    { "field": "account_update", "value": {} },
                    { "field": "messages", "value": { "messages": [
                        { "from": "628111", "id": "wamid.x", "timestamp": "1764000102", "type": "text", "text": { "body": "a" } },
                        { "from": "628222", "id": "wamid.y", "timestamp": "1764000103", "type": "text", "text": { "body": "b" } }
                    ]}}
                ]}
            ]
        });
        let p = parse(&body);
        assert_eq!(p.messages.len(), 2);
        assert_eq!(
            p.statuses[1],
            OutboxUpdate::Status {
                channel: "whatsapp".into(),
                provider_id: "wamid.out2".into(),
                status: "failed".into(),
                error: Some("131047: Re-engagement message".into()),
                time_ms: 1_764_000_101_000,
            }
        );
        assert_eq!(p.ignored, ["field:account_update"]);
    }

    #[test]
    fn strange_bodies_are_ignored_not_errors() {
        for body in [
            json!({}),
            json!({"object": "page"}),
            json!({"object": "whatsapp_business_account", "entry": "x"}),
            json!({"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {"messages": [{"type": "text"}]}}]}]}),
            json!({"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {"messages": [{"from": "1", "id": "2", "type": "interactive", "interactive": {"type": "nfm_reply"}}]}}]}]}),
        ] {
            let p = parse(&body);
            assert!(p.messages.is_empty(), "{body}");
        }
    }
}
