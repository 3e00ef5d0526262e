//! Forms, hand-off requests and ticket look-ups inside a turn.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Turn, builtin};
use crate::clock;
use crate::matcher::Layer;
use crate::message::{Button, Content, Reply};
use crate::pack::{Action, Form, SlotKind};
use crate::render::{choice_number, resolve_choice};
use crate::session::{FormState, HandoffMode};
use crate::slots;
use crate::store::{Handoff, HandoffState, StatusChange, Ticket, TicketStatus};

/// `#batal`, `/batal`, `batal`, `cancel`: stop what is going on.
pub(super) fn is_cancel(text: &str) -> bool {
    if text.len() > 32 {
        return false;
    }
    let t = text.trim().to_lowercase();
    matches!(
        t.trim_start_matches(['#', '/', '!']),
        "batal" | "batalkan" | "cancel" | "stop" | "gak jadi" | "ga jadi" | "tidak jadi"
    )
}

fn is_skip(text: &str) -> bool {
    matches!(
        text.trim().to_lowercase().as_str(),
        "lewati" | "lewat" | "skip" | "-" | "tidak ada" | "ga ada" | "gak ada" | "nggak ada"
    )
}

fn is_yes(text: &str) -> bool {
    matches!(
        crate::normalise::fold_chars(text).trim(),
        "ya" | "y"
            | "iya"
            | "yes"
            | "benar"
            | "betul"
            | "sudah benar"
            | "sudah"
            | "kirim"
            | "ok"
            | "oke"
            | "setuju"
            | "lanjut"
            | "sip"
    ) || choice_number(text) == Some(1)
}

fn is_fix(text: &str) -> bool {
    matches!(
        crate::normalise::fold_chars(text).trim(),
        "ubah" | "ganti" | "perbaiki" | "salah" | "edit" | "koreksi" | "tidak" | "bukan"
    ) || choice_number(text) == Some(2)
}

/// The score from which an answer in a form is read as being about one of
/// the pack's intents: answered as a question in passing, or refused as a
/// name.
const CONFIDENT_SCORE: f32 = 0.5;

/// Whether an answer to a free-text slot is really a question to the bot.
fn looks_like_question(text: &str) -> bool {
    let t = text.trim();
    let first = crate::normalise::fold_chars(crate::matcher::truncate_chars(t, 64))
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    t.ends_with('?') || slots::QUESTION_WORDS.contains(&first.as_str())
}

impl Turn<'_> {
    fn form_def(&self, id: &str) -> Option<Form> {
        self.pack().form(id).cloned()
    }

    pub(super) fn start_form(&mut self, form_id: &str) {
        let Some(form) = self.form_def(form_id) else {
            return;
        };
        self.session.form = Some(FormState {
            form: form.id.clone(),
            ..FormState::default()
        });
        self.changes.count(format!("form_started:{}", form.id), 1);
        self.ask(&form, 0, None);
    }

    /// Asks slot `index`, after `before` (a re-ask or a digression's answer).
    fn ask(&mut self, form: &Form, index: usize, before: Option<String>) {
        let slot = &form.slots[index];
        let mut text = before
            .as_ref()
            .map(|b| format!("{b}\n\n"))
            .unwrap_or_default();
        text.push_str(&slot.prompt);
        if !slot.required {
            text.push_str(" (ketik *lewati* bila tidak ada)");
        }
        if index == 0 || before.is_some() {
            text.push_str("\nKetik *#batal* untuk membatalkan.");
        }
        let buttons = if slot.kind == SlotKind::Choice {
            slot.choices
                .iter()
                .map(|c| Button::new(c.clone(), c.clone()))
                .collect()
        } else {
            Vec::new()
        };
        self.say(text, buttons);
    }

    pub(super) async fn form_step(&mut self, form_id: &str) -> crate::error::Result<()> {
        let Some(form) = self.form_def(form_id) else {
            // The pack changed under an open form.
            self.session.form = None;
            self.form_cancelled = true;
            self.builtin(
                "batal",
                "Formulir yang sedang Anda isi sudah tidak tersedia. Silakan mulai lagi dari menu.",
            );
            return Ok(());
        };
        let mut st = self.session.form.clone().unwrap_or_default();
        self.set(&format!("form:{}", form.id), Layer::Choice, 1.0);
        let text = self.text().to_owned();

        if st.confirming {
            if is_yes(&text) {
                return self.complete(&form, st).await;
            }
            if is_fix(&text) {
                st.confirming = false;
                st.choosing_fix = true;
                self.session.form = Some(st);
                let options = form
                    .slots
                    .iter()
                    .map(|s| Button::new(s.label.clone(), s.name.clone()))
                    .collect();
                self.say("Bagian mana yang ingin diubah?", options);
                return Ok(());
            }
            self.session.form = Some(st.clone());
            self.summary(
                &form,
                &st,
                Some("Mohon jawab *Kirim* bila data sudah benar, atau *Ubah* untuk memperbaiki."),
            );
            return Ok(());
        }
        if st.choosing_fix {
            let options: Vec<Button> = form
                .slots
                .iter()
                .map(|s| Button::new(s.label.clone(), s.name.clone()))
                .collect();
            let Some(i) = resolve_choice(&text, &options) else {
                self.say("Pilih nomor bagian yang ingin diubah.", options);
                return Ok(());
            };
            st.choosing_fix = false;
            st.fixing = true;
            st.slot = i;
            st.retries = 0;
            self.session.form = Some(st);
            self.ask(&form, i, None);
            return Ok(());
        }

        let Some(slot) = form.slots.get(st.slot).cloned() else {
            st.confirming = true;
            self.session.form = Some(st.clone());
            self.summary(&form, &st, None);
            return Ok(());
        };
        // A command that starts a form, sent while one is open: say so, keep the form.
        if let Some((intent, _)) = self.active.matcher.command(&text)
            && self.pack().intent(intent).is_some_and(|i| i.form.is_some())
        {
            let before = format!(
                "Anda sedang mengisi formulir {}. Ketik *#batal* bila ingin membatalkannya.",
                form.title
            );
            let index = st.slot;
            self.session.form = Some(st);
            self.ask(&form, index, Some(before));
            return Ok(());
        }
        let today = clock::Local::at(self.now_ms, self.pack().office.utc_offset).day;
        let value = if !slot.required && is_skip(&text) {
            Some(String::new())
        } else {
            let parsed = slots::parse(&slot, &self.inbound.content, today)
                .filter(|_| !(slot.kind == SlotKind::Name && self.names_a_topic(&text)));
            // A question asked mid-form is answered, and the form resumes. Any
            // text fits a text slot, so there only a question or a command
            // counts; a typed slot digresses when the answer does not fit.
            let might_digress = match (&self.inbound.content, slot.kind) {
                (Content::Text(_), SlotKind::Text) => {
                    looks_like_question(&text) || self.active.matcher.command(&text).is_some()
                }
                (Content::Text(_), _) => parsed.is_none(),
                _ => false,
            };
            if might_digress && self.digression(&form, &st, &text) {
                return Ok(());
            }
            parsed
        };
        match value {
            Some(v) => {
                st.values.insert(slot.name.clone(), v);
                st.retries = 0;
                if st.fixing {
                    st.fixing = false;
                    st.slot = form.slots.len();
                } else {
                    st.slot += 1;
                }
                if st.slot < form.slots.len() {
                    let next = st.slot;
                    self.session.form = Some(st);
                    self.ask(&form, next, None);
                } else if form.confirm {
                    st.confirming = true;
                    self.session.form = Some(st.clone());
                    self.summary(&form, &st, None);
                } else {
                    return self.complete(&form, st).await;
                }
            }
            None => {
                st.retries += 1;
                if st.retries > slot.retries {
                    self.session.form = None;
                    self.form_cancelled = true;
                    self.changes.count("form_cancelled", 1);
                    let menu = self.menu_button();
                    self.say(
                        format!("Maaf, jawaban untuk *{}* belum sesuai setelah beberapa kali, jadi formulir {} dibatalkan. Silakan mulai lagi, atau ketik *#tanya* untuk dibantu petugas.", slot.label, form.title),
                        menu,
                    );
                    return Ok(());
                }
                let index = st.slot;
                self.session.form = Some(st);
                let too_long = text.chars().nth(slots::MAX_ANSWER_CHARS).is_some();
                let reask = if too_long {
                    format!(
                        "Jawaban Anda terlalu panjang (lebih dari {} karakter). Mohon ringkas.",
                        slots::MAX_ANSWER_CHARS
                    )
                } else {
                    slot.reask
                        .clone()
                        .unwrap_or_else(|| default_reask(slot.kind).to_owned())
                };
                self.ask(&form, index, Some(reask));
            }
        }
        Ok(())
    }

    /// Whether `text`, given for a name, names one of the pack's topics
    /// instead: two words or more, every one the pack's, and a confident
    /// match (`timbangan pedagang curang` when asked for a name). A
    /// citizen's name brings a word the pack does not know (`Tera
    /// Wulandari`) or matches nothing.
    fn names_a_topic(&self, text: &str) -> bool {
        if text.split_whitespace().count() < 2 {
            return false;
        }
        let decision = self.active.matcher.decide(text);
        decision.unknown.is_empty()
            && !decision.is_fallback()
            && decision.best.score >= CONFIDENT_SCORE
    }

    /// Answers `text` if it confidently asks something else, then repeats
    /// the pending question. `false` when it is not such a question.
    fn digression(&mut self, form: &Form, st: &FormState, text: &str) -> bool {
        let decision = self.active.matcher.decide(text);
        let pack = Arc::clone(&self.active.pack);
        let Some(intent) = pack.intent(&decision.best.intent) else {
            return false;
        };
        let command = decision.best.layer == Layer::Command;
        if decision.is_fallback()
            || decision.best.score < CONFIDENT_SCORE
            || intent.form.is_some()
            || intent.action.is_some()
            || (intent.id == "menu" && !command)
        {
            return false;
        }
        let answer = self.render(&intent.reply, &decision.best.captures);
        self.replies.push(Reply::Text(answer));
        self.changes.count("form_digression", 1);
        let before = format!("Kita lanjutkan formulir {}.", form.title);
        self.session.form = Some(st.clone());
        self.ask(form, st.slot, Some(before));
        true
    }

    fn summary(&mut self, form: &Form, st: &FormState, before: Option<&str>) {
        let mut text = before.map(|b| format!("{b}\n\n")).unwrap_or_default();
        text.push_str("Mohon periksa data Anda:\n");
        for slot in &form.slots {
            let v = st.values.get(&slot.name).map_or("-", String::as_str);
            let v = if v.is_empty() { "-" } else { v };
            let shown = if slot.kind == SlotKind::Photo && v != "-" {
                "(foto terlampir)".to_owned()
            } else {
                slots::readable(slot, v)
            };
            text.push_str(&format!("• {}: {shown}\n", slot.label));
        }
        text.push_str("\nSudah benar?");
        self.say(
            text,
            vec![Button::new("Kirim", "ya"), Button::new("Ubah", "ubah")],
        );
    }

    async fn complete(&mut self, form: &Form, st: FormState) -> crate::error::Result<()> {
        self.session.form = None;
        // The reply shows the values as the citizen reads them; the ticket
        // and actions keep them as stored.
        let mut vars: BTreeMap<String, String> = form
            .slots
            .iter()
            .filter_map(|slot| {
                let v = st.values.get(&slot.name)?;
                Some((format!("slot.{}", slot.name), slots::readable(slot, v)))
            })
            .collect();
        vars.insert("form.title".to_owned(), form.title.clone());
        self.changes.count(format!("form_completed:{}", form.id), 1);
        match &form.on_complete {
            Action::TicketCreate => {
                let offset = self.pack().office.utc_offset;
                let year = clock::Local::at(self.now_ms, offset).year;
                let seq = format!("{}-{year}", form.ticket_prefix);
                let n = self.engine.inner.store.next_number(&seq).await?;
                let id = format!("{seq}-{n:06}");
                let due_ms = form.sla.due(self.now_ms, &self.pack().office);
                self.changes.tickets.push(Ticket {
                    id: id.clone(),
                    form: form.id.clone(),
                    channel: self.key.channel.clone(),
                    user: self.key.user.clone(),
                    fields: st.values.clone(),
                    status: TicketStatus::Baru,
                    history: vec![StatusChange {
                        time_ms: self.now_ms,
                        status: TicketStatus::Baru,
                        actor: "warga".to_owned(),
                        note: "Diajukan lewat chat".to_owned(),
                    }],
                    created_ms: self.now_ms,
                    due_ms,
                });
                self.changes.count("ticket_opened", 1);
                self.session.tickets.push(id.clone());
                let excess = self
                    .session
                    .tickets
                    .len()
                    .saturating_sub(crate::session::REMEMBERED_TICKETS);
                self.session.tickets.drain(..excess);
                vars.insert("ticket.id".to_owned(), id.clone());
                vars.insert(
                    "ticket.due".to_owned(),
                    clock::datetime_text(due_ms, offset),
                );
                self.ticket = Some(id);
            }
            Action::Handoff => {
                let question = form
                    .slots
                    .iter()
                    .map(|s| {
                        format!(
                            "{}: {}",
                            s.label,
                            st.values.get(&s.name).map_or("-", String::as_str)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                let text = self.render(&form.reply, &vars);
                self.replies.push(Reply::Text(text));
                return self.enqueue_handoff(&question).await;
            }
            external @ (Action::Custom(_) | Action::Http(_)) => {
                let ctx = self.action_context(None, Some(&form.id), st.values.clone());
                match self.run_external(external, ctx).await {
                    Ok(fields) => vars.extend(fields),
                    Err(()) => {
                        let menu = self.menu_button();
                        self.say(builtin::ACTION_FAILED, menu);
                        return Ok(());
                    }
                }
            }
            Action::Reply | Action::TicketStatus => {}
        }
        let text = self.render(&form.reply, &vars);
        let menu = self.menu_button();
        self.say(text, menu);
        Ok(())
    }

    /// Puts the conversation in the operator queue with `question`. A
    /// closed hand-off of the conversation goes into the new one's
    /// history. One still waiting is asked again: the latest question,
    /// but its place in the queue (and its history) kept, so that a
    /// citizen who asks twice is not sent to the back.
    pub(super) async fn enqueue_handoff(&mut self, question: &str) -> crate::error::Result<()> {
        let question = crate::matcher::truncate_chars(question.trim(), 2_000).to_owned();
        let (earlier, requested_ms) = match self.engine.inner.store.handoff(&self.key).await? {
            Some(before) if before.state == HandoffState::Closed => {
                let mut earlier: Vec<_> = before.all_times().collect();
                let over = earlier.len().saturating_sub(Handoff::MAX_EARLIER);
                earlier.drain(..over);
                (earlier, self.now_ms)
            }
            Some(before) => (before.earlier, before.requested_ms),
            None => (Vec::new(), self.now_ms),
        };
        self.changes.handoffs.push(Handoff {
            channel: self.key.channel.clone(),
            user: self.key.user.clone(),
            question,
            requested_ms,
            first_answer_ms: None,
            state: HandoffState::Waiting,
            earlier,
        });
        self.session.handoff = Some(HandoffMode::Waiting(self.now_ms));
        self.handed_off = true;
        self.changes.count("handoff", 1);
        self.set("petugas", Layer::Choice, 1.0);
        let office = &self.pack().office;
        let text = if office.is_open(self.now_ms) || office.schedule.iter().all(Option::is_none) {
            "Pertanyaan Anda sudah kami teruskan ke petugas. Mohon tunggu, petugas akan membalas di percakapan ini. Sementara itu saya tetap bisa menjawab pertanyaan umum.".to_owned()
        } else {
            let when = office.next_opening(self.now_ms).map_or_else(
                || "pada jam layanan berikutnya".to_owned(),
                |ms| format!("mulai {}", clock::datetime_text(ms, office.utc_offset)),
            );
            format!(
                "Pertanyaan Anda sudah kami teruskan ke petugas. Saat ini di luar jam layanan, jadi petugas akan membalas {when}. Sementara itu saya tetap bisa menjawab pertanyaan umum."
            )
        };
        let menu = self.menu_button();
        self.say(text, menu);
        Ok(())
    }

    /// A hand-off nobody took (or that an operator left open) for longer
    /// than the pack allows goes back to the bot; the citizen is told.
    pub(super) async fn release_stale_handoff(&mut self) -> crate::error::Result<()> {
        let since = match self.session.handoff {
            Some(HandoffMode::Waiting(t) | HandoffMode::Held(t)) => t,
            _ => return Ok(()),
        };
        let timeout = self.pack().settings.handoff_timeout_minutes * 60_000;
        if self.now_ms <= since + timeout {
            return Ok(());
        }
        self.session.handoff = None;
        if let Some(mut h) = self.engine.inner.store.handoff(&self.key).await? {
            h.state = HandoffState::Closed;
            self.changes.handoffs.push(h);
        }
        self.changes.count("handoff_timeout", 1);
        self.replies.push(Reply::Text(
            "Maaf, petugas belum dapat membalas percakapan Anda. Asisten digital kembali melayani; ketik *#tanya* untuk mencoba lagi, atau hubungi kantor pada jam layanan.".to_owned(),
        ));
        Ok(())
    }

    /// `#status NOMOR`: details only for the citizen who filed the ticket.
    pub(super) async fn ticket_status(
        &mut self,
        number: &str,
        buttons: Vec<Button>,
    ) -> crate::error::Result<()> {
        let id = number.trim().to_uppercase();
        let text = match self.engine.inner.store.ticket(&id).await? {
            Some(t) if t.channel == self.key.channel && t.user == self.key.user => {
                self.status_text(&t)
            }
            // Someone else's ticket or none at all: the same neutral answer.
            _ => format!(
                "Tiket *{id}* tidak ditemukan untuk nomor Anda. Periksa kembali nomornya (contoh: ADU-2026-000123); status hanya dapat dilihat dari nomor yang mengajukan."
            ),
        };
        self.say(text, buttons);
        Ok(())
    }

    /// `#status` without a number: the status of the tickets opened in this
    /// conversation, newest first. `false` when it has opened none (the
    /// intent's reply then says how to ask).
    pub(super) async fn own_tickets_status(
        &mut self,
        buttons: Vec<Button>,
    ) -> crate::error::Result<bool> {
        if !self.session.tickets_listed || self.session.version == 0 {
            // A session saved before sessions listed their tickets, or a
            // citizen's first message (tickets filed without a session):
            // look the citizen's tickets up, once, and list them from now on.
            let tickets = self.engine.inner.store.tickets().await?;
            let mut newest: Vec<String> = tickets
                .iter()
                .rev()
                .filter(|t| t.channel == self.key.channel && t.user == self.key.user)
                .take(crate::session::REMEMBERED_TICKETS)
                .map(|t| t.id.clone())
                .collect();
            newest.reverse();
            self.session.tickets = newest;
            self.session.tickets_listed = true;
        }
        let mut parts = Vec::new();
        for id in self.session.tickets.clone().iter().rev() {
            if let Some(t) = self.engine.inner.store.ticket(id).await?
                && t.channel == self.key.channel
                && t.user == self.key.user
            {
                parts.push(self.status_text(&t));
            }
        }
        if parts.is_empty() {
            return Ok(false);
        }
        let intro = if parts.len() == 1 {
            "Tiket Anda dari percakapan ini:"
        } else {
            "Tiket-tiket Anda dari percakapan ini (terbaru dahulu):"
        };
        self.say(
            format!(
                "{intro}\n\n{}\n\nUntuk tiket lain, kirim *#status* diikuti nomornya.",
                parts.join("\n\n")
            ),
            buttons,
        );
        Ok(true)
    }

    /// One ticket's status as the citizen reads it.
    fn status_text(&self, t: &Ticket) -> String {
        let offset = self.pack().office.utc_offset;
        let title = self
            .pack()
            .form(&t.form)
            .map_or(t.form.clone(), |f| f.title.clone());
        let mut s = format!(
            "Tiket *{}* ({title}): status *{}*.\nDiajukan: {}.\n",
            t.id,
            t.status.label(),
            clock::datetime_text(t.created_ms, offset)
        );
        if !t.status.is_closed() {
            s.push_str(&format!(
                "Target selesai: {}.\n",
                clock::datetime_text(t.due_ms, offset)
            ));
        }
        if let Some(c) = t.history.last().filter(|c| !c.note.is_empty()) {
            s.push_str(&format!("Catatan terakhir: {}", c.note));
        }
        s.trim_end().to_owned()
    }
}

fn default_reask(kind: SlotKind) -> &'static str {
    match kind {
        SlotKind::Text => "Maaf, jawaban itu belum bisa kami terima.",
        SlotKind::Name => "Mohon tuliskan nama Anda saja, misalnya: Budi Santoso.",
        SlotKind::Number => "Mohon jawab dengan angka.",
        SlotKind::Choice => "Mohon pilih salah satu pilihan (balas dengan nomornya).",
        SlotKind::Phone => {
            "Nomor HP belum valid. Contoh yang benar: 0812-3456-7890 atau +62 812 3456 7890."
        }
        SlotKind::Nik => "NIK belum valid. NIK terdiri dari 16 angka, sesuai yang tertera di KTP.",
        SlotKind::Email => "Alamat email belum valid. Contoh: nama@contoh.com.",
        SlotKind::Date => {
            "Tanggal belum bisa kami baca. Contoh: 5 Desember 2026, 05/12/2026, besok, atau senin."
        }
        SlotKind::Location => {
            "Mohon kirim lokasi (fitur Bagikan Lokasi) atau tuliskan nama tempatnya."
        }
        SlotKind::Photo => "Mohon kirim sebuah foto.",
    }
}
