//! An office registers a custom action: citizens ask for the status of a
//! permit by its number, and the answer comes from the office's own data
//! (here a small in-memory register; in practice its database or service).
//!
//! Run with `cargo run --example custom_action`.

use std::collections::HashMap;
use std::sync::Arc;

use layan::{ActionContext, ActionError, ActionOutput, Engine, Inbound, Pack};

const PACK_TOML: &str = r#"
[pack]
id = "izin-kota"
name = "Cek izin"
version = "1.0.0"
language = "id"
"#;

const INTENTS: &str = r#"
[[intent]]
id = "cek_izin"
keywords = ["cek izin", "status izin"]
patterns = ['(?:izin|permohonan)\D*(?P<nomor>\d{6})']
examples = ["cek status izin saya", "izin saya sudah jadi belum"]
action = "cek_izin"
reply = "Permohonan {nomor}: {action.status}. {action.langkah}"
"#;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), layan::Error> {
    // The office's own data, shared with the action.
    let register: Arc<HashMap<&str, (&str, &str)>> = Arc::new(HashMap::from([
        (
            "202601",
            (
                "sudah terbit",
                "Silakan ambil di loket 2 dengan membawa KTP.",
            ),
        ),
        (
            "202602",
            (
                "sedang diverifikasi",
                "Petugas akan menghubungi Anda bila ada kekurangan berkas.",
            ),
        ),
    ]));

    let pack = Pack::from_files([("pack.toml", PACK_TOML), ("intents/izin.toml", INTENTS)])?;
    let engine = Engine::builder()
        .pack(pack)
        .action("cek_izin", move |ctx: ActionContext| {
            let register = Arc::clone(&register);
            async move {
                let nomor = ctx.values.get("nomor").cloned().unwrap_or_default();
                match register.get(nomor.as_str()) {
                    Some((status, langkah)) => Ok(ActionOutput {
                        vars: [("status".to_owned(), (*status).to_owned()), ("langkah".to_owned(), (*langkah).to_owned())].into(),
                    }),
                    // Not found is an answer, not a failure.
                    None if nomor.len() == 6 => Ok(ActionOutput {
                        vars: [
                            ("status".to_owned(), "tidak ditemukan dalam data kami".to_owned()),
                            ("langkah".to_owned(), "Periksa kembali nomornya, atau ketik #tanya untuk dibantu petugas.".to_owned()),
                        ]
                        .into(),
                    }),
                    // A failure the citizen should hear about honestly.
                    None => Err(ActionError(format!("malformed permit number {nomor:?}"))),
                }
            }
        })
        .build()?;

    for text in [
        "cek izin 202601",
        "status permohonan no 202602 gmn?",
        "cek izin 999999",
    ] {
        let replies = engine
            .handle(Inbound::text("whatsapp", "6281200000001", text))
            .await?;
        println!("> {text}\n{}\n", replies[0].text());
    }
    Ok(())
}
