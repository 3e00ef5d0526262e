//! Reading a Cloud API webhook body: `entry[].changes[].value` with its
//! `messages[]`, `statuses[]` and `contacts[]`, tolerant of what it does not
//! know (ignored and counted, never an error).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use layan_core::store::unix_ms;
use layan_core::{Content, Inbound, OutboxUpdate};
use serde::Deserialize;

use crate::NAME;
use lenient::{Int, List, Num, Obj, Str};

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

// The parts of a body that are read, as typed structs borrowing the body's
// strings (no `serde_json::Value` tree is built: that was more than half of
// the handler's time). Every field is lenient: absent, or of another type
// than expected, it reads as nothing, so a body never fails for its shape.

#[derive(Deserialize, Default)]
#[serde(default)]
struct Body<'a> {
    #[serde(borrow)]
    object: Str<'a>,
    #[serde(borrow)]
    entry: List<Obj<Entry<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Entry<'a> {
    #[serde(borrow)]
    changes: List<Obj<Change<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Change<'a> {
    #[serde(borrow)]
    field: Str<'a>,
    #[serde(borrow)]
    value: Obj<Value<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Value<'a> {
    #[serde(borrow)]
    contacts: List<Obj<Contact<'a>>>,
    #[serde(borrow)]
    messages: List<Obj<Message<'a>>>,
    #[serde(borrow)]
    statuses: List<Obj<Status<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Contact<'a> {
    #[serde(borrow)]
    profile: Obj<Profile<'a>>,
    #[serde(borrow)]
    wa_id: Str<'a>,
    #[serde(borrow)]
    user_id: Str<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Profile<'a> {
    #[serde(borrow)]
    name: Str<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Message<'a> {
    #[serde(borrow)]
    from: Str<'a>,
    #[serde(borrow)]
    user_id: Str<'a>,
    #[serde(borrow)]
    id: Str<'a>,
    #[serde(borrow, rename = "type")]
    kind: Str<'a>,
    #[serde(borrow)]
    timestamp: Str<'a>,
    #[serde(borrow)]
    text: Obj<Text<'a>>,
    #[serde(borrow)]
    interactive: Obj<Interactive<'a>>,
    #[serde(borrow)]
    button: Obj<Button<'a>>,
    location: Obj<Location>,
    #[serde(borrow)]
    image: Obj<Media<'a>>,
    #[serde(borrow)]
    document: Obj<Media<'a>>,
    #[serde(borrow)]
    audio: Obj<Media<'a>>,
    #[serde(borrow)]
    video: Obj<Media<'a>>,
    #[serde(borrow)]
    sticker: Obj<Media<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Text<'a> {
    #[serde(borrow)]
    body: Str<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Interactive<'a> {
    #[serde(borrow, rename = "type")]
    kind: Str<'a>,
    #[serde(borrow)]
    button_reply: Obj<Reply<'a>>,
    #[serde(borrow)]
    list_reply: Obj<Reply<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Reply<'a> {
    #[serde(borrow)]
    id: Str<'a>,
    #[serde(borrow)]
    title: Str<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Button<'a> {
    #[serde(borrow)]
    payload: Str<'a>,
    #[serde(borrow)]
    text: Str<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Location {
    latitude: Num,
    longitude: Num,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Media<'a> {
    #[serde(borrow)]
    id: Str<'a>,
    #[serde(borrow)]
    caption: Str<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Status<'a> {
    #[serde(borrow)]
    id: Str<'a>,
    #[serde(borrow)]
    status: Str<'a>,
    #[serde(borrow)]
    timestamp: Str<'a>,
    #[serde(borrow)]
    errors: List<Obj<StatusError<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StatusError<'a> {
    code: Int,
    #[serde(borrow)]
    title: Str<'a>,
    #[serde(borrow)]
    message: Str<'a>,
}

fn time_of(timestamp: &Str<'_>) -> SystemTime {
    timestamp
        .text()
        .and_then(|t| t.parse::<u64>().ok())
        .map_or_else(SystemTime::now, |s| UNIX_EPOCH + Duration::from_secs(s))
}

/// Parses a webhook body.
///
/// # Errors
/// Only when the body is not JSON. Anything in it not understood is
/// listed in [`Parsed::ignored`].
pub fn parse(body: &[u8]) -> Result<Parsed, serde_json::Error> {
    let body: Obj<Body<'_>> = serde_json::from_slice(body)?;
    let mut out = Parsed::default();
    let Some(body) = body
        .0
        .filter(|b| b.object.text() == Some("whatsapp_business_account"))
    else {
        out.ignored.push("object".to_owned());
        return Ok(out);
    };
    let changes = body
        .entry
        .0
        .into_iter()
        .filter_map(|e| e.0)
        .flat_map(|e| e.changes.0)
        .filter_map(|c| c.0);
    for change in changes {
        let field = change.field.text().unwrap_or("messages");
        if field != "messages" {
            out.ignored.push(format!("field:{field}"));
            continue;
        }
        let Some(value) = change.value.0 else {
            out.ignored.push("change".to_owned());
            continue;
        };
        // Profile names by every id a contact carries.
        let mut names: HashMap<&str, &str> = HashMap::new();
        for c in value.contacts.0.iter().filter_map(|c| c.0.as_ref()) {
            if let Some(name) = c.profile.0.as_ref().and_then(|p| p.name.0.as_deref()) {
                for id in [c.wa_id.text(), c.user_id.text()].into_iter().flatten() {
                    names.insert(id, name);
                }
            }
        }
        for m in &value.messages.0 {
            match m
                .0
                .as_ref()
                .ok_or_else(|| "message".to_owned())
                .and_then(message)
            {
                Ok(mut inbound) => {
                    inbound.profile_name =
                        names.get(inbound.user.as_str()).map(|n| (*n).to_owned());
                    out.messages.push(inbound);
                }
                Err(kind) => out.ignored.push(kind),
            }
        }
        for s in &value.statuses.0 {
            match s
                .0
                .as_ref()
                .and_then(|s| Some((s, s.id.text()?, s.status.text()?)))
            {
                Some((s, id, status)) => {
                    let error = s.errors.0.first().map(|e| {
                        let e = e.0.as_ref();
                        let code = e.and_then(|e| e.code.0).unwrap_or(0);
                        let title = e
                            .and_then(|e| e.title.text().or_else(|| e.message.text()))
                            .unwrap_or("");
                        format!("{code}: {title}")
                    });
                    out.statuses.push(OutboxUpdate::Status {
                        channel: NAME.to_owned(),
                        provider_id: id.to_owned(),
                        status: status.to_owned(),
                        error,
                        time_ms: unix_ms(time_of(&s.timestamp)),
                    });
                }
                None => out.ignored.push("status".to_owned()),
            }
        }
    }
    Ok(out)
}

/// One message, or the kind of thing it was when it is not one we take.
fn message(m: &Message<'_>) -> Result<Inbound, String> {
    let user = m.from.text().or_else(|| m.user_id.text()).ok_or("sender")?;
    let id = m.id.text().ok_or("id")?;
    let kind = m.kind.text().unwrap_or("unknown");
    let media = |body: &Obj<Media<'_>>| -> Result<Content, String> {
        let b = body.0.as_ref().ok_or_else(|| format!("type:{kind}"))?;
        Ok(Content::Media {
            kind: kind.to_owned(),
            reference: b.id.text().ok_or("media:id")?.to_owned(),
            caption: b.caption.text().map(str::to_owned),
        })
    };
    let content = match kind {
        "text" => Content::Text(
            m.text
                .0
                .as_ref()
                .and_then(|b| b.body.text())
                .unwrap_or_default()
                .to_owned(),
        ),
        "interactive" => {
            let b = m.interactive.0.as_ref().ok_or("type:interactive")?;
            let reply = b
                .button_reply
                .0
                .as_ref()
                .or(b.list_reply.0.as_ref())
                .ok_or_else(|| format!("interactive:{}", b.kind.text().unwrap_or("?")))?;
            Content::Payload(
                reply
                    .id
                    .text()
                    .or_else(|| reply.title.text())
                    .ok_or("interactive:id")?
                    .to_owned(),
            )
        }
        // A template's quick-reply button.
        "button" => Content::Payload(
            m.button
                .0
                .as_ref()
                .and_then(|b| b.payload.text().or_else(|| b.text.text()))
                .ok_or("button:payload")?
                .to_owned(),
        ),
        "location" => {
            let b = m.location.0.as_ref().ok_or("type:location")?;
            Content::Location {
                latitude: b.latitude.0.ok_or("location")?,
                longitude: b.longitude.0.ok_or("location")?,
            }
        }
        "image" => media(&m.image)?,
        "document" => media(&m.document)?,
        "audio" => media(&m.audio)?,
        "video" => media(&m.video)?,
        "sticker" => media(&m.sticker)?,
        other => return Err(format!("type:{other}")),
    };
    Ok(Inbound {
        channel: NAME.to_owned(),
        user: user.to_owned(),
        message_id: id.to_owned(),
        content,
        time: time_of(&m.timestamp),
        profile_name: None,
    })
}

/// Fields that read as nothing when the body has something else there.
mod lenient {
    use std::borrow::Cow;
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::value::MapAccessDeserializer;
    use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    /// Drains what is not wanted; the value it stands for is `T::default()`.
    macro_rules! skip_the_rest {
        ($($method:ident($ty:ty)),*) => {
            $(fn $method<E: serde::de::Error>(self, _: $ty) -> Result<Self::Value, E> {
                Ok(Default::default())
            })*
            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(Default::default())
            }
        };
    }

    fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    /// A string (borrowed from the body when it has no escapes).
    #[derive(Default)]
    pub(super) struct Str<'a>(pub Option<Cow<'a, str>>);

    impl Str<'_> {
        /// The string, when present and not empty.
        pub(super) fn text(&self) -> Option<&str> {
            self.0.as_deref().filter(|s| !s.is_empty())
        }
    }

    impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V<'a>(PhantomData<&'a ()>);
            impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
                type Value = Str<'a>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("any JSON value")
                }
                fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                    Ok(Str(Some(Cow::Borrowed(s))))
                }
                fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                    Ok(Str(Some(Cow::Owned(s.to_owned()))))
                }
                fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
                    Ok(Str(Some(Cow::Owned(s))))
                }
                skip_the_rest!(
                    visit_bool(bool),
                    visit_i64(i64),
                    visit_u64(u64),
                    visit_f64(f64)
                );
                fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                    drain_map(map).map(|()| Str(None))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                    drain_seq(seq).map(|()| Str(None))
                }
            }
            d.deserialize_any(V(PhantomData))
        }
    }

    /// Any JSON number, as `f64`.
    #[derive(Default)]
    pub(super) struct Num(pub Option<f64>);

    /// A JSON integer that fits an `i64`.
    #[derive(Default)]
    pub(super) struct Int(pub Option<i64>);

    /// Numbers: `as_f64` reads every number, `as_i64` only whole ones.
    macro_rules! number {
        ($name:ident, $i64:expr, $u64:expr, $f64:expr) => {
            impl<'de> Deserialize<'de> for $name {
                fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                    struct V;
                    impl<'de> Visitor<'de> for V {
                        type Value = $name;
                        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                            f.write_str("any JSON value")
                        }
                        fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
                            Ok($name($i64(n)))
                        }
                        fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
                            Ok($name($u64(n)))
                        }
                        fn visit_f64<E>(self, n: f64) -> Result<Self::Value, E> {
                            Ok($name($f64(n)))
                        }
                        skip_the_rest!(visit_bool(bool), visit_str(&str));
                        fn visit_map<A: MapAccess<'de>>(
                            self,
                            map: A,
                        ) -> Result<Self::Value, A::Error> {
                            drain_map(map).map(|()| $name(None))
                        }
                        fn visit_seq<A: SeqAccess<'de>>(
                            self,
                            seq: A,
                        ) -> Result<Self::Value, A::Error> {
                            drain_seq(seq).map(|()| $name(None))
                        }
                    }
                    d.deserialize_any(V)
                }
            }
        };
    }

    #[allow(clippy::cast_precision_loss)]
    fn u64_as_f64(n: u64) -> Option<f64> {
        Some(n as f64)
    }

    #[allow(clippy::cast_precision_loss)]
    fn i64_as_f64(n: i64) -> Option<f64> {
        Some(n as f64)
    }

    number!(Num, i64_as_f64, u64_as_f64, Some);
    number!(Int, Some, |n| i64::try_from(n).ok(), |_| None);

    /// An object read as `T` (whose fields are lenient in turn).
    pub(super) struct Obj<T>(pub Option<T>);

    impl<T> Default for Obj<T> {
        fn default() -> Self {
            Self(None)
        }
    }

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V<T>(PhantomData<T>);
            impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
                type Value = Obj<T>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("any JSON value")
                }
                fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                    T::deserialize(MapAccessDeserializer::new(map)).map(|t| Obj(Some(t)))
                }
                skip_the_rest!(
                    visit_bool(bool),
                    visit_i64(i64),
                    visit_u64(u64),
                    visit_f64(f64),
                    visit_str(&str)
                );
                fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                    drain_seq(seq).map(|()| Obj(None))
                }
            }
            d.deserialize_any(V(PhantomData))
        }
    }

    /// An array of `T` (lenient elements: `Obj<…>`).
    pub(super) struct List<T>(pub Vec<T>);

    impl<T> Default for List<T> {
        fn default() -> Self {
            Self(Vec::new())
        }
    }

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V<T>(PhantomData<T>);
            impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
                type Value = List<T>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("any JSON value")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                    let mut items = Vec::new();
                    while let Some(item) = seq.next_element()? {
                        items.push(item);
                    }
                    Ok(List(items))
                }
                skip_the_rest!(
                    visit_bool(bool),
                    visit_i64(i64),
                    visit_u64(u64),
                    visit_f64(f64),
                    visit_str(&str)
                );
                fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                    drain_map(map).map(|()| List(Vec::new()))
                }
            }
            d.deserialize_any(V(PhantomData))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn parse(body: &Value) -> Parsed {
        super::parse(body.to_string().as_bytes()).unwrap()
    }

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
    fn fields_of_an_unexpected_type_read_as_absent_and_escapes_are_decoded() {
        let body = wrap(json!({
            "contacts": [{ "profile": { "name": 7 }, "wa_id": "628111" }, "x"],
            "messages": [
                { "from": "628111", "id": "wamid.1", "timestamp": 1764000000, "type": "text",
                  "text": { "body": "café \"timbangan\"\n✓" } },
                { "from": 628111, "id": "wamid.2", "type": "text", "text": { "body": "x" } },
                { "from": "628111", "id": "wamid.3", "type": "location", "location": { "latitude": "-3.7", "longitude": 102 } },
                { "from": "628111", "id": "wamid.4", "type": "image", "image": "MEDIA" },
                { "from": "628111", "id": "wamid.5", "type": "text", "text": "halo" },
                [1, 2],
                { "from": "628111", "id": "wamid.6", "type": "location", "location": { "latitude": -3, "longitude": 102.5 } }
            ],
            "statuses": [
                { "id": "wamid.out", "status": "failed", "errors": [5] },
                { "id": "wamid.out2", "status": ["sent"] }
            ]
        }));
        let p = parse(&body);
        let read: Vec<(&str, &Content)> = p
            .messages
            .iter()
            .map(|m| (m.message_id.as_str(), &m.content))
            .collect();
        assert_eq!(
            read,
            [
                ("wamid.1", &Content::Text("café \"timbangan\"\n✓".into())),
                ("wamid.5", &Content::Text(String::new())),
                (
                    "wamid.6",
                    &Content::Location {
                        latitude: -3.0,
                        longitude: 102.5
                    }
                ),
            ]
        );
        assert_eq!(p.messages[0].profile_name, None, "a name that is no string");
        assert_eq!(
            p.ignored,
            ["sender", "location", "type:image", "message", "status"]
        );
        assert!(matches!(
            &p.statuses[0],
            OutboxUpdate::Status { error: Some(e), .. } if e == "0: "
        ));
        assert!(super::parse(b"{\"object\": ").is_err(), "not JSON");
        assert_eq!(super::parse(b"[1, 2]").unwrap().ignored, ["object"]);
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
