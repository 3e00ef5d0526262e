//! The Cloud API's send request bodies, typed: `POST /{phone_number_id}/messages`
//! with `{"messaging_product": "whatsapp", "recipient_type": "individual",
//! "to": …, "type": <kind>, <kind>: {…}}`, and its answer.

use layan_core::render::{Outgoing, truncate_title};
use serde::{Deserialize, Serialize};

/// The longest body of an interactive message (buttons, list).
const MAX_INTERACTIVE_BODY: usize = 1024;
/// The body of an interactive message whose text went ahead on its own.
const CHOOSE: &str = "Silakan pilih:";

/// One request body.
#[derive(Debug, Serialize)]
pub(crate) struct Body<'a> {
    messaging_product: &'static str,
    recipient_type: &'static str,
    to: &'a str,
    #[serde(flatten)]
    content: Content<'a>,
}

/// The message, as `"type": <kind>` next to `<kind>: {…}`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Content<'a> {
    Text { text: Text<'a> },
    Interactive { interactive: Interactive<'a> },
    Image { image: Media<'a> },
    Document { document: Media<'a> },
    Audio { audio: Media<'a> },
    Video { video: Media<'a> },
    Location { location: Location<'a> },
}

#[derive(Debug, Serialize)]
struct Text<'a> {
    preview_url: bool,
    body: &'a str,
}

#[derive(Debug, Serialize)]
struct Interactive<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    body: InteractiveBody<'a>,
    action: Action,
}

#[derive(Debug, Serialize)]
struct InteractiveBody<'a> {
    text: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Action {
    Buttons {
        buttons: Vec<ReplyButton>,
    },
    List {
        button: String,
        sections: [Section; 1],
    },
}

#[derive(Debug, Serialize)]
struct ReplyButton {
    #[serde(rename = "type")]
    kind: &'static str,
    reply: Choice,
}

#[derive(Debug, Serialize)]
struct Choice {
    id: String,
    title: String,
}

#[derive(Debug, Serialize)]
struct Section {
    title: &'static str,
    rows: Vec<Row>,
}

#[derive(Debug, Serialize)]
struct Row {
    id: String,
    title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

#[derive(Debug, Serialize)]
struct Media<'a> {
    link: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    caption: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct Location<'a> {
    latitude: f64,
    longitude: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

impl<'a> Body<'a> {
    fn new(to: &'a str, content: Content<'a>) -> Self {
        Self {
            messaging_product: "whatsapp",
            recipient_type: "individual",
            to,
            content,
        }
    }

    fn text(to: &'a str, body: &'a str) -> Self {
        Self::new(
            to,
            Content::Text {
                text: Text {
                    preview_url: false,
                    body,
                },
            },
        )
    }
}

/// The request bodies of one rendered message (two when an interactive
/// message's text is longer than its body may be: the text goes first).
pub(crate) fn bodies<'a>(to: &'a str, message: &'a Outgoing) -> Vec<Body<'a>> {
    let interactive = |text: &'a str, kind: &'static str, action: Action| {
        let mut out = Vec::new();
        let body = if text.chars().count() > MAX_INTERACTIVE_BODY {
            out.push(Body::text(to, text));
            CHOOSE
        } else if text.trim().is_empty() {
            CHOOSE
        } else {
            text
        };
        out.push(Body::new(
            to,
            Content::Interactive {
                interactive: Interactive {
                    kind,
                    body: InteractiveBody { text: body },
                    action,
                },
            },
        ));
        out
    };
    match message {
        Outgoing::Buttons { text, buttons } => interactive(
            text,
            "button",
            Action::Buttons {
                buttons: buttons
                    .iter()
                    .take(3)
                    .map(|b| ReplyButton {
                        kind: "reply",
                        reply: Choice {
                            id: truncate_title(&b.payload, 256),
                            title: truncate_title(&b.title, 20),
                        },
                    })
                    .collect(),
            },
        ),
        Outgoing::List { text, button, rows } => interactive(
            text,
            "list",
            Action::List {
                button: truncate_title(button, 20),
                sections: [Section {
                    title: "Pilihan",
                    rows: rows
                        .iter()
                        .take(10)
                        .map(|r| Row {
                            id: truncate_title(&r.payload, 200),
                            title: truncate_title(&r.title, 24),
                            description: r.description.as_deref().map(|d| truncate_title(d, 72)),
                        })
                        .collect(),
                }],
            },
        ),
        Outgoing::Media { kind, url, caption } => {
            let media = |caption| Media { link: url, caption };
            let caption = caption.as_deref();
            let content = match kind.as_str() {
                "image" => Content::Image {
                    image: media(caption),
                },
                // A voice note or audio file takes no caption.
                "audio" => Content::Audio { audio: media(None) },
                "video" => Content::Video {
                    video: media(caption),
                },
                _ => Content::Document {
                    document: media(caption),
                },
            };
            vec![Body::new(to, content)]
        }
        Outgoing::Location {
            latitude,
            longitude,
            name,
        } => vec![Body::new(
            to,
            Content::Location {
                location: Location {
                    latitude: *latitude,
                    longitude: *longitude,
                    name: name.as_deref(),
                },
            },
        )],
        other => vec![Body::text(to, other.text())],
    }
}

/// The answer to a send that was accepted: `{"messages": [{"id": "wamid…"}]}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Accepted {
    messages: Vec<MessageId>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MessageId {
    id: Option<String>,
}

impl Accepted {
    /// The id WhatsApp gave the message, when the answer names one.
    pub(crate) fn into_id(self) -> Option<String> {
        self.messages.into_iter().next().and_then(|m| m.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use layan_core::{Button, ListRow};
    use serde_json::{Value, json};

    fn sent(message: &Outgoing) -> Vec<Value> {
        bodies("6281234", message)
            .iter()
            .map(|b| serde_json::to_value(b).unwrap())
            .collect()
    }

    fn envelope(kind: &str, content: Value) -> Value {
        let mut v = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "6281234",
            "type": kind,
        });
        v[kind] = content;
        v
    }

    /// Each kind of message, as the Cloud API documents its request body.
    #[test]
    fn every_kind_of_message_has_the_documented_body() {
        let long = "x".repeat(1025);
        let row = |title: &str, description: Option<&str>| ListRow {
            title: title.to_owned(),
            description: description.map(str::to_owned),
            payload: format!("id-{title}"),
        };
        let cases: Vec<(&str, Outgoing, Vec<Value>)> = vec![
            (
                "text",
                Outgoing::Text("Halo".to_owned()),
                vec![envelope(
                    "text",
                    json!({"preview_url": false, "body": "Halo"}),
                )],
            ),
            (
                "reply buttons, at most three, titles cut to 20",
                Outgoing::Buttons {
                    text: "Pilih:".to_owned(),
                    buttons: vec![
                        Button::new("Izin usaha (NIB dan OSS)", "nib"),
                        Button::new("Halal", "halal"),
                        Button::new("Merek", "merek"),
                        Button::new("Tera", "tera"),
                    ],
                },
                vec![envelope(
                    "interactive",
                    json!({
                        "type": "button",
                        "body": {"text": "Pilih:"},
                        "action": {"buttons": [
                            {"type": "reply", "reply": {"id": "nib", "title": "Izin usaha (NIB dan…"}},
                            {"type": "reply", "reply": {"id": "halal", "title": "Halal"}},
                            {"type": "reply", "reply": {"id": "merek", "title": "Merek"}},
                        ]},
                    }),
                )],
            ),
            (
                "a list, a description only where there is one",
                Outgoing::List {
                    text: "Layanan:".to_owned(),
                    button: "Lihat".to_owned(),
                    rows: vec![row("Halal", Some("Sertifikat halal")), row("Tera", None)],
                },
                vec![envelope(
                    "interactive",
                    json!({
                        "type": "list",
                        "body": {"text": "Layanan:"},
                        "action": {"button": "Lihat", "sections": [{"title": "Pilihan", "rows": [
                            {"id": "id-Halal", "title": "Halal", "description": "Sertifikat halal"},
                            {"id": "id-Tera", "title": "Tera"},
                        ]}]},
                    }),
                )],
            ),
            (
                "an interactive text over 1024 characters goes ahead on its own",
                Outgoing::Buttons {
                    text: long.clone(),
                    buttons: vec![Button::new("Ya", "ya")],
                },
                vec![
                    envelope("text", json!({"preview_url": false, "body": long})),
                    envelope(
                        "interactive",
                        json!({
                            "type": "button",
                            "body": {"text": "Silakan pilih:"},
                            "action": {"buttons": [{"type": "reply", "reply": {"id": "ya", "title": "Ya"}}]},
                        }),
                    ),
                ],
            ),
            (
                "an image with its caption",
                Outgoing::Media {
                    kind: "image".to_owned(),
                    url: "https://contoh.go.id/a.png".to_owned(),
                    caption: Some("Brosur".to_owned()),
                },
                vec![envelope(
                    "image",
                    json!({"link": "https://contoh.go.id/a.png", "caption": "Brosur"}),
                )],
            ),
            (
                "audio takes no caption",
                Outgoing::Media {
                    kind: "audio".to_owned(),
                    url: "https://contoh.go.id/a.ogg".to_owned(),
                    caption: Some("Suara".to_owned()),
                },
                vec![envelope(
                    "audio",
                    json!({"link": "https://contoh.go.id/a.ogg"}),
                )],
            ),
            (
                "another kind of file goes as a document",
                Outgoing::Media {
                    kind: "sticker".to_owned(),
                    url: "https://contoh.go.id/f.pdf".to_owned(),
                    caption: None,
                },
                vec![envelope(
                    "document",
                    json!({"link": "https://contoh.go.id/f.pdf"}),
                )],
            ),
            (
                "a location with its name",
                Outgoing::Location {
                    latitude: -3.79,
                    longitude: 102.26,
                    name: Some("Kantor Dinas".to_owned()),
                },
                vec![envelope(
                    "location",
                    json!({"latitude": -3.79, "longitude": 102.26, "name": "Kantor Dinas"}),
                )],
            ),
        ];
        for (what, message, want) in cases {
            assert_eq!(sent(&message), want, "{what}");
        }
    }

    #[test]
    fn the_accepted_message_id_is_read_and_its_absence_tolerated() {
        let id = |body: &str| {
            serde_json::from_str::<Accepted>(body)
                .unwrap_or_default()
                .into_id()
        };
        assert_eq!(
            id(
                r#"{"messaging_product":"whatsapp","contacts":[{"input":"6281234","wa_id":"6281234"}],"messages":[{"id":"wamid.HBgL"}]}"#
            ),
            Some("wamid.HBgL".to_owned())
        );
        assert_eq!(id(r#"{"messages":[]}"#), None);
        assert_eq!(id("not json"), None);
    }
}
