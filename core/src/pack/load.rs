//! Reading a pack's TOML files into a validated [`Pack`], collecting every
//! problem with its file, line and a hint.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{
    FALLBACK, IntentButton, Keyword, OFFICE_VARIABLES, Office, Pack, PackMeta, Settings, Source,
    Template,
};
use crate::error::{Error, PackProblem, Result};
use crate::matcher::compile_pattern;
use crate::normalise::Normaliser;

const PACK_FILE: &str = "pack.toml";

/// Reads `pack.toml` and `intents/*.toml` under `dir`, sorted by name.
pub(super) fn read_dir(dir: &Path) -> Result<Vec<(PathBuf, String)>> {
    let io = |path: &Path, source| Error::Io {
        path: path.to_owned(),
        source,
    };
    if !dir.is_dir() {
        return Err(io(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "not a folder"),
        ));
    }
    let mut files = Vec::new();
    let pack_file = dir.join(PACK_FILE);
    if pack_file.exists() {
        let text = std::fs::read_to_string(&pack_file).map_err(|e| io(&pack_file, e))?;
        files.push((PathBuf::from(PACK_FILE), text));
    }
    for folder in ["intents", "forms"] {
        let sub = dir.join(folder);
        if !sub.is_dir() {
            continue;
        }
        let mut names: Vec<PathBuf> = std::fs::read_dir(&sub)
            .map_err(|e| io(&sub, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        names.sort();
        for path in names {
            let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
            let rel = Path::new(folder).join(path.file_name().unwrap_or_default());
            files.push((rel, text));
        }
    }
    Ok(files)
}

/// One file being read, and the problems found so far.
struct Reader<'a> {
    file: &'a Path,
    text: &'a str,
    /// Byte offsets where lines start.
    lines: &'a [usize],
    problems: &'a mut Vec<PackProblem>,
    /// Where the table being read starts, for "missing field" problems.
    at: Range<usize>,
}

impl<'a> Reader<'a> {
    fn new(
        file: &'a Path,
        text: &'a str,
        lines: &'a [usize],
        problems: &'a mut Vec<PackProblem>,
    ) -> Self {
        Self {
            file,
            text,
            lines,
            problems,
            at: 0..0,
        }
    }

    fn line(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        self.lines.partition_point(|&start| start <= offset)
    }

    fn problem(&mut self, span: Range<usize>, message: impl Into<String>, hint: Option<String>) {
        let line = self.line(span.start);
        self.problems.push(PackProblem {
            file: self.file.to_owned(),
            line,
            message: message.into(),
            hint,
        });
    }

    /// Reports every key of `table` that is not in `allowed`.
    fn check_keys(&mut self, table: &DeTable<'_>, allowed: &[&str], what: &str) {
        for (key, _) in table.iter() {
            let name = key.get_ref().as_ref();
            if allowed.contains(&name) {
                continue;
            }
            let hint = match closest(name, allowed.iter().copied()) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!("{what} takes: {}", allowed.join(", ")),
            };
            self.problem(
                key.span(),
                format!("unknown field `{name}` in {what}"),
                Some(hint),
            );
        }
    }

    fn string(
        &mut self,
        table: &DeTable<'_>,
        key: &str,
        required: bool,
        what: &str,
    ) -> Option<(String, Range<usize>)> {
        match table.get(key) {
            Some(v) => match v.get_ref() {
                DeValue::String(s) => Some((s.to_string(), v.span())),
                other => {
                    self.problem(
                        v.span(),
                        format!(
                            "`{key}` in {what} must be a string, not {}",
                            other.type_str()
                        ),
                        Some(format!("write it in quotes: {key} = \"…\"")),
                    );
                    None
                }
            },
            None => {
                if required {
                    let span = 0..0;
                    self.problem(
                        span,
                        format!("{what} has no `{key}`"),
                        Some(format!("add {key} = \"…\"")),
                    );
                }
                None
            }
        }
    }

    fn strings(
        &mut self,
        table: &DeTable<'_>,
        key: &str,
        what: &str,
    ) -> Vec<(String, Range<usize>)> {
        let Some(v) = table.get(key) else {
            return Vec::new();
        };
        let DeValue::Array(items) = v.get_ref() else {
            self.problem(
                v.span(),
                format!("`{key}` in {what} must be a list of strings"),
                Some(format!("{key} = [\"…\", \"…\"]")),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(s) if s.trim().is_empty() => {
                    self.problem(
                        item.span(),
                        format!("empty string in `{key}` of {what}"),
                        Some("remove it".to_owned()),
                    );
                }
                DeValue::String(s) => out.push((s.to_string(), item.span())),
                other => self.problem(
                    item.span(),
                    format!(
                        "`{key}` in {what} must hold strings, found {}",
                        other.type_str()
                    ),
                    None,
                ),
            }
        }
        out
    }

    fn number(
        &mut self,
        table: &DeTable<'_>,
        key: &str,
        range: Range<f64>,
        what: &str,
    ) -> Option<f64> {
        let v = table.get(key)?;
        let n = match v.get_ref() {
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
            DeValue::Integer(i) if i.radix() == 10 => {
                i.as_str().replace('_', "").parse::<f64>().ok()
            }
            _ => None,
        };
        match n {
            Some(n) if n >= range.start && n <= range.end => Some(n),
            _ => {
                self.problem(
                    v.span(),
                    format!(
                        "`{key}` in {what} must be a number from {} to {}",
                        range.start, range.end
                    ),
                    None,
                );
                None
            }
        }
    }

    /// A whole number in `range`: a count, minutes, hours. A fraction
    /// (`30.5`) is a problem, not silently cut.
    fn count(
        &mut self,
        table: &DeTable<'_>,
        key: &str,
        range: std::ops::RangeInclusive<u64>,
        what: &str,
    ) -> Option<u64> {
        let v = table.get(key)?;
        let n = match v.get_ref() {
            DeValue::Integer(i) if i.radix() == 10 => {
                i.as_str().replace('_', "").parse::<u64>().ok()
            }
            _ => None,
        };
        match n {
            Some(n) if range.contains(&n) => Some(n),
            _ => {
                self.problem(
                    v.span(),
                    format!(
                        "`{key}` in {what} must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                    Some("write the number alone, without a decimal point or quotes".to_owned()),
                );
                None
            }
        }
    }

    fn boolean(&mut self, table: &DeTable<'_>, key: &str, what: &str) -> Option<bool> {
        let v = table.get(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                self.problem(
                    v.span(),
                    format!(
                        "`{key}` in {what} must be true or false, not {}",
                        other.type_str()
                    ),
                    None,
                );
                None
            }
        }
    }

    fn table<'t, 'i>(&mut self, parent: &'t DeTable<'i>, key: &str) -> Option<&'t DeTable<'i>> {
        let (k, v) = parent.get_key_value(key)?;
        match v.get_ref() {
            DeValue::Table(t) => {
                self.at = k.span();
                Some(t)
            }
            other => {
                self.problem(
                    v.span(),
                    format!("`{key}` must be a table, not {}", other.type_str()),
                    Some(format!("write it as [{key}]")),
                );
                None
            }
        }
    }
}

/// Byte offsets where the lines of `text` start.
fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// An intent as read, before cross-file checks.
struct RawIntent {
    intent: super::Intent,
    form: Option<(String, Range<usize>)>,
    id_span: Range<usize>,
    button_spans: Vec<Range<usize>>,
    command_spans: Vec<Range<usize>>,
}

pub(super) fn parse(files: &[(PathBuf, String)]) -> Result<Pack> {
    let mut problems = Vec::new();
    let lines: Vec<Vec<usize>> = files.iter().map(|(_, text)| line_starts(text)).collect();
    let normaliser = Normaliser::bundled();

    let pack_file = files.iter().position(|(p, _)| p == Path::new(PACK_FILE));
    let (meta, office, settings) = match pack_file {
        Some(i) => parse_pack_toml(&files[i].0, &files[i].1, &lines[i], &mut problems),
        None => {
            problems.push(PackProblem {
                file: PathBuf::from(PACK_FILE),
                line: 0,
                message: "the pack has no pack.toml".to_owned(),
                hint: Some("create pack.toml with [pack] id, name, version, language".to_owned()),
            });
            (None, Office::default(), Settings::default())
        }
    };

    let problems_before_intents = problems.len();
    let mut raws: Vec<(usize, RawIntent)> = Vec::new();
    let mut forms = Vec::new();
    for (index, (path, text)) in files.iter().enumerate() {
        if path == Path::new(PACK_FILE) {
            continue;
        }
        if path.starts_with("forms") {
            forms.extend(parse_form_file(
                path,
                text,
                &lines[index],
                &office,
                &mut problems,
            ));
            continue;
        }
        for raw in parse_intent_file(path, text, &lines[index], &normaliser, &mut problems) {
            raws.push((index, raw));
        }
    }
    let form_ids: HashSet<&str> = forms.iter().map(|f: &super::Form| f.id.as_str()).collect();
    for (index, raw) in &raws {
        let Some((form, span)) = &raw.form else {
            continue;
        };
        if !form_ids.contains(form.as_str()) {
            let (path, text) = &files[*index];
            let mut r = Reader::new(path, text, &lines[*index], &mut problems);
            let hint = match closest(form, form_ids.iter().copied()) {
                Some(c) => format!("did you mean `{c}`?"),
                None => "define it in forms/*.toml as [[form]] id = \"…\"".to_owned(),
            };
            r.problem(
                span.clone(),
                format!("intent `{}` starts unknown form `{form}`", raw.intent.id),
                Some(hint),
            );
        }
    }
    if raws.is_empty() && !files.is_empty() && problems.len() == problems_before_intents {
        problems.push(PackProblem {
            file: PathBuf::from("intents"),
            line: 0,
            message: "the pack defines no intents".to_owned(),
            hint: Some("add intents/*.toml files with [[intent]] tables".to_owned()),
        });
    }

    // Cross-file checks: unique ids, unique commands, buttons to known intents.
    let mut ids: HashMap<&str, (&Path, usize)> = HashMap::new();
    let mut commands: HashMap<String, &str> = HashMap::new();
    for (index, raw) in &raws {
        let (path, text) = &files[*index];
        let mut r = Reader::new(path, text, &lines[*index], &mut problems);
        let id = raw.intent.id.as_str();
        if let Some((first_file, first_line)) = ids.get(id) {
            let hint = format!(
                "first defined at {}:{first_line}; ids must be unique",
                first_file.display()
            );
            r.problem(
                raw.id_span.clone(),
                format!("duplicate intent id `{id}`"),
                Some(hint),
            );
        } else {
            ids.insert(id, (path, r.line(raw.id_span.start)));
        }
        for (cmd, span) in raw.intent.commands.iter().zip(&raw.command_spans) {
            if let Some(other) = commands.get(cmd)
                && *other != id
            {
                r.problem(
                    span.clone(),
                    format!("command `{cmd}` is also used by intent `{other}`"),
                    Some("a command must lead to one intent".to_owned()),
                );
            } else {
                commands.insert(cmd.clone(), id);
            }
        }
    }
    let known: Vec<&str> = ids.keys().copied().chain([FALLBACK]).collect();
    for (index, raw) in &raws {
        let (path, text) = &files[*index];
        let mut r = Reader::new(path, text, &lines[*index], &mut problems);
        for (button, span) in raw.intent.buttons.iter().zip(&raw.button_spans) {
            if !known.contains(&button.intent.as_str()) {
                let hint = match closest(&button.intent, known.iter().copied()) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => "a button's intent must be the id of an intent in this pack".to_owned(),
                };
                r.problem(
                    span.clone(),
                    format!(
                        "button `{}` leads to unknown intent `{}`",
                        button.title, button.intent
                    ),
                    Some(hint),
                );
            }
        }
    }

    if !problems.is_empty() {
        problems.sort_by(|a, b| a.file.cmp(&b.file).then(a.line.cmp(&b.line)));
        return Err(Error::Pack(problems));
    }
    let Some(meta) = meta else {
        return Err(Error::Pack(problems));
    };
    Ok(Pack {
        meta,
        office,
        settings,
        intents: raws.into_iter().map(|(_, r)| r.intent).collect(),
        forms,
        root: None,
    })
}

fn parse_toml<'i>(
    path: &Path,
    text: &'i str,
    lines: &[usize],
    problems: &mut Vec<PackProblem>,
) -> Option<DeTable<'i>> {
    let (doc, errors) = DeTable::parse_recoverable(text);
    if errors.is_empty() {
        return Some(doc.into_inner());
    }
    let mut r = Reader::new(path, text, lines, problems);
    // Recovery after a syntax error produces follow-up errors on the same
    // line; the first one names the real problem.
    let mut lines_seen = HashSet::new();
    for e in errors {
        let span = e.span().unwrap_or(0..0);
        if !lines_seen.insert(r.line(span.start)) {
            continue;
        }
        let message = format!("invalid TOML: {}", e.message().trim());
        r.problem(
            span,
            message,
            Some("check quotes, brackets and commas on this line".to_owned()),
        );
    }
    None
}

fn parse_pack_toml(
    path: &Path,
    text: &str,
    lines: &[usize],
    problems: &mut Vec<PackProblem>,
) -> (Option<PackMeta>, Office, Settings) {
    let mut office = Office::default();
    let mut settings = Settings::default();
    let Some(doc) = parse_toml(path, text, lines, problems) else {
        return (None, office, settings);
    };
    let mut r = Reader::new(path, text, lines, problems);
    r.check_keys(&doc, &["pack", "office", "settings"], "pack.toml");

    let meta = match r.table(&doc, "pack") {
        Some(t) => {
            r.check_keys(
                t,
                &["id", "name", "version", "language", "description"],
                "[pack]",
            );
            let id = r.string(t, "id", true, "[pack]");
            let name = r.string(t, "name", true, "[pack]");
            let version = r.string(t, "version", true, "[pack]");
            let language = r.string(t, "language", true, "[pack]");
            let description = r.string(t, "description", false, "[pack]");
            match (id, name, version, language) {
                (Some(id), Some(name), Some(version), Some(language)) => Some(PackMeta {
                    id: id.0,
                    name: name.0,
                    version: version.0,
                    language: language.0,
                    description: description.map(|d| d.0).unwrap_or_default(),
                }),
                _ => None,
            }
        }
        None => {
            r.problem(
                0..0,
                "pack.toml has no [pack] table",
                Some("add [pack] with id, name, version, language".to_owned()),
            );
            None
        }
    };

    if let Some(t) = r.table(&doc, "office") {
        let fields = [
            "name", "address", "phone", "whatsapp", "email", "website", "hours", "timezone",
            "schedule", "holidays",
        ];
        r.check_keys(t, &fields, "[office]");
        let mut get = |k: &str| {
            r.string(t, k, false, "[office]")
                .map(|s| s.0)
                .unwrap_or_default()
        };
        office = Office {
            name: get("name"),
            address: get("address"),
            phone: get("phone"),
            whatsapp: get("whatsapp"),
            email: get("email"),
            website: get("website"),
            hours: get("hours"),
            timezone: get("timezone"),
            ..Office::default()
        };
        if !office.timezone.is_empty() {
            match crate::clock::utc_offset_minutes(&office.timezone) {
                Some(o) => office.utc_offset = o,
                None => {
                    let span = t.get("timezone").map_or(r.at.clone(), Spanned::span);
                    r.problem(
                        span,
                        format!("unknown time zone `{}`", office.timezone),
                        Some(
                            "use Asia/Jakarta (WIB), Asia/Makassar (WITA) or Asia/Jayapura (WIT)"
                                .to_owned(),
                        ),
                    );
                }
            }
        }
        if let Some(days) = r.table(t, "schedule") {
            let names = [
                "senin", "selasa", "rabu", "kamis", "jumat", "sabtu", "minggu",
            ];
            r.check_keys(days, &names, "[office.schedule]");
            for (i, name) in names.iter().enumerate() {
                let Some((text, span)) = r.string(days, name, false, "[office.schedule]") else {
                    continue;
                };
                match parse_hours(&text) {
                    Some(range) => office.schedule[i] = Some(range),
                    None => r.problem(
                        span,
                        format!("`{name}` hours `{text}` are not HH:MM-HH:MM"),
                        Some("e.g. senin = \"08:00-16:00\"".to_owned()),
                    ),
                }
            }
        }
        for (text, span) in r.strings(t, "holidays", "[office]") {
            match crate::clock::parse_iso_date(&text) {
                Some(day) => office.holidays.push(day),
                None => r.problem(
                    span,
                    format!("holiday `{text}` is not a date"),
                    Some(crate::clock::iso_date_hint()),
                ),
            }
        }
    }

    if let Some(t) = r.table(&doc, "settings") {
        r.check_keys(
            t,
            &[
                "confidence_threshold",
                "fallback_suggestions",
                "session_timeout_minutes",
                "handoff_timeout_minutes",
                "sms_segments",
            ],
            "[settings]",
        );
        if let Some(v) = r.count(t, "sms_segments", 1..=11, "[settings]") {
            settings.sms_segments = v as usize;
        }
        if let Some(v) = r.count(t, "handoff_timeout_minutes", 1..=1_000_000, "[settings]") {
            settings.handoff_timeout_minutes = v;
        }
        if let Some(v) = r.number(t, "confidence_threshold", 0.0..1.0, "[settings]") {
            settings.confidence_threshold = v as f32;
        }
        if let Some(v) = r.count(t, "fallback_suggestions", 0..=10, "[settings]") {
            settings.fallback_suggestions = v as usize;
        }
        if let Some(v) = r.count(t, "session_timeout_minutes", 1..=100_000, "[settings]") {
            settings.session_timeout_minutes = v;
        }
    }
    (meta, office, settings)
}

/// `08:00-16:00` → minutes since midnight.
fn parse_hours(text: &str) -> Option<(u32, u32)> {
    let minutes = |hm: &str| {
        let (h, m) = hm.trim().split_once([':', '.'])?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h <= 24 && m < 60).then_some(h * 60 + m)
    };
    let (a, b) = text.split_once('-')?;
    let (a, b) = (minutes(a)?, minutes(b)?);
    (a < b && b <= 24 * 60).then_some((a, b))
}

const INTENT_FIELDS: &[&str] = &[
    "form", "action", "http", "id", "title", "commands", "keywords", "patterns", "examples",
    "reply", "buttons",
];

/// The line of a regex error that says what is wrong (its message also
/// repeats the pattern and draws a caret above it).
fn regex_error(e: &regex::Error) -> String {
    e.to_string()
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Reports every variable of a reply that is neither in `known` nor
/// provided at run time by its action (`{action.*}` of a custom action,
/// `{http.*}` of an http action).
fn check_variables(
    r: &mut Reader<'_>,
    tpl: &Template,
    span: &Range<usize>,
    what: &str,
    known: &[String],
    action: Option<&super::Action>,
) {
    for var in tpl.variables() {
        let from_action = match action {
            Some(super::Action::Custom(_)) => var.starts_with("action."),
            Some(super::Action::Http(_)) => var.starts_with("http."),
            _ => false,
        };
        if from_action || known.iter().any(|k| k == var) {
            continue;
        }
        let hint = match closest(var, known.iter().map(String::as_str)) {
            Some(c) => format!("did you mean `{{{c}}}`?"),
            None => format!("known: {}", known.join(", ")),
        };
        r.problem(
            span.clone(),
            format!("reply of {what} names unknown variable `{{{var}}}`"),
            Some(hint),
        );
    }
}

/// The `[[key]]` tables of a file that must hold only those.
fn tables_of<'d, 'i>(
    r: &mut Reader<'_>,
    doc: &'d DeTable<'i>,
    key: &str,
) -> Option<&'d toml::de::DeArray<'i>> {
    r.check_keys(doc, &[key], &format!("a {key} file"));
    let Some(v) = doc.get(key) else {
        r.problem(
            0..0,
            format!("the file defines no {key}"),
            Some(format!("add [[{key}]] tables, or delete the file")),
        );
        return None;
    };
    match v.get_ref() {
        DeValue::Array(items) => Some(items),
        _ => {
            r.problem(
                v.span(),
                format!("`{key}` must be an array of tables"),
                Some(format!("write each {key} as [[{key}]]")),
            );
            None
        }
    }
}

fn parse_intent_file(
    path: &Path,
    text: &str,
    lines: &[usize],
    normaliser: &Normaliser,
    problems: &mut Vec<PackProblem>,
) -> Vec<RawIntent> {
    let Some(doc) = parse_toml(path, text, lines, problems) else {
        return Vec::new();
    };
    let mut r = Reader::new(path, text, lines, problems);
    let Some(items) = tables_of(&mut r, &doc, "intent") else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| parse_intent(&mut r, item, normaliser))
        .collect()
}

fn parse_intent(
    r: &mut Reader<'_>,
    item: &Spanned<DeValue<'_>>,
    normaliser: &Normaliser,
) -> Option<RawIntent> {
    let DeValue::Table(t) = item.get_ref() else {
        r.problem(
            item.span(),
            "each intent must be a table",
            Some("write each intent as [[intent]]".to_owned()),
        );
        return None;
    };
    let start = item.span();
    let Some((id, id_span)) = r.string(t, "id", false, "an intent") else {
        if !t.contains_key("id") {
            r.problem(
                start,
                "intent has no `id`",
                Some("add id = \"…\" (lower case, digits, _)".to_owned()),
            );
        }
        return None;
    };
    let what = format!("intent `{id}`");
    r.check_keys(t, INTENT_FIELDS, &what);
    if !id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        || !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        r.problem(
            id_span.clone(),
            format!("intent id `{id}` is not a valid id"),
            Some("use lower-case letters, digits and _, starting with a letter".to_owned()),
        );
    }

    let commands_raw = r.strings(t, "commands", &what);
    let (commands, command_spans): (Vec<String>, Vec<_>) = commands_raw
        .into_iter()
        .map(|(c, s)| (c.trim().to_lowercase(), s))
        .unzip();
    for (c, s) in commands.iter().zip(&command_spans) {
        if c.split_whitespace().count() != 1 {
            r.problem(
                s.clone(),
                format!("command `{c}` must be one word"),
                Some("commands look like #info or /start".to_owned()),
            );
        }
    }

    let keywords = parse_keywords(r, t, &what, normaliser);
    // The action as written, for the variables its reply may use.
    let early_action = t
        .get("action")
        .and_then(|v| v.get_ref().as_str())
        .map(super::Action::parse);
    let mut captures = HashSet::new();
    let mut patterns = Vec::new();
    let mut broken_patterns = false;
    for (p, span) in r.strings(t, "patterns", &what) {
        match compile_pattern(&p) {
            Ok(re) => {
                captures.extend(re.capture_names().flatten().map(str::to_owned));
                patterns.push(p);
            }
            Err(e) => {
                broken_patterns = true;
                let first = regex_error(&e);
                r.problem(
                    span,
                    format!("pattern does not compile: {first}"),
                    Some(
                        "patterns are Rust regex syntax over normalised lower-case text".to_owned(),
                    ),
                );
            }
        }
    }
    let mut examples = Vec::new();
    for (e, span) in r.strings(t, "examples", &what) {
        if normaliser.words(&e).is_empty() {
            r.problem(
                span,
                format!("example `{e}` has no words once normalised"),
                Some("write a sentence a citizen would send".to_owned()),
            );
        } else {
            examples.push(e);
        }
    }
    if commands.is_empty()
        && keywords.is_empty()
        && patterns.is_empty()
        && examples.is_empty()
        && !broken_patterns
        && id != FALLBACK
    {
        r.problem(
            id_span.clone(),
            format!("intent `{id}` can never be matched"),
            Some("give it commands, keywords, patterns or examples".to_owned()),
        );
    }

    let reply = match r.string(t, "reply", false, &what) {
        Some((text, span)) => match Template::parse(&text) {
            Ok(tpl) => {
                // A broken pattern's captures are unknown: don't guess.
                if !broken_patterns {
                    let known: Vec<String> = OFFICE_VARIABLES
                        .iter()
                        .map(|s| (*s).to_owned())
                        .chain(captures.iter().cloned())
                        .collect();
                    check_variables(r, &tpl, &span, &what, &known, early_action.as_ref());
                }
                tpl
            }
            Err(e) => {
                r.problem(
                    span,
                    format!("reply of {what}: {}", e.message),
                    Some("write {{ for a literal brace".to_owned()),
                );
                Template::parse("").ok()?
            }
        },
        None => {
            // An intent that starts a form may let the form's first question
            // speak; a pack's own fallback without one keeps the built-in
            // answer (its examples and buttons are what it adds).
            if !t.contains_key("reply") && !t.contains_key("form") && id != FALLBACK {
                r.problem(
                    id_span.clone(),
                    format!("{what} has no `reply`"),
                    Some("add reply = \"\"\"…\"\"\"".to_owned()),
                );
            }
            Template::parse("").ok()?
        }
    };

    let title = r.string(t, "title", false, &what).map(|s| s.0);
    let form = r.string(t, "form", false, &what);
    let action = r
        .string(t, "action", false, &what)
        .map(|(a, _)| http_details(r, t, super::Action::parse(&a), &what, &id_span));
    if matches!(action, Some(super::Action::TicketCreate)) {
        r.problem(
            id_span.clone(),
            format!("`ticket.create` on {what}: tickets come from forms"),
            Some(
                "give the intent form = \"…\" and put on_complete = \"ticket.create\" in the form"
                    .to_owned(),
            ),
        );
    }
    let (buttons, button_spans) = parse_buttons(r, t, &what);
    let line = r.line(id_span.start);
    Some(RawIntent {
        form: form.clone(),
        intent: super::Intent {
            id,
            title,
            form: form.map(|f| f.0),
            action,
            commands,
            keywords,
            patterns,
            examples,
            reply,
            buttons,
            source: Source {
                file: r.file.to_owned(),
                line,
            },
        },
        id_span,
        button_spans,
        command_spans,
    })
}

fn parse_keywords(
    r: &mut Reader<'_>,
    t: &DeTable<'_>,
    what: &str,
    normaliser: &Normaliser,
) -> Vec<Keyword> {
    let Some(v) = t.get("keywords") else {
        return Vec::new();
    };
    let DeValue::Array(items) = v.get_ref() else {
        r.problem(
            v.span(),
            format!("`keywords` in {what} must be a list"),
            Some("keywords = [\"izin usaha\", { text = \"nib\", weight = 0.9 }]".to_owned()),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items.iter() {
        let (text, weight) = match item.get_ref() {
            DeValue::String(s) => (s.to_string(), 1.0),
            DeValue::Table(kt) => {
                r.check_keys(kt, &["text", "weight"], "a keyword");
                let text = r.string(kt, "text", true, "a keyword").map(|s| s.0);
                let weight = r.number(kt, "weight", 0.0..1.0, "a keyword").unwrap_or(1.0);
                match text {
                    Some(text) => (text, weight),
                    None => continue,
                }
            }
            other => {
                r.problem(
                    item.span(),
                    format!(
                        "a keyword must be a string or {{ text, weight }}, not {}",
                        other.type_str()
                    ),
                    None,
                );
                continue;
            }
        };
        if normaliser.words(&text).is_empty() {
            r.problem(
                item.span(),
                format!("keyword `{text}` has no words once normalised"),
                Some("keywords are words or phrases".to_owned()),
            );
            continue;
        }
        out.push(Keyword {
            text,
            weight: weight as f32,
        });
    }
    out
}

fn parse_buttons(
    r: &mut Reader<'_>,
    t: &DeTable<'_>,
    what: &str,
) -> (Vec<IntentButton>, Vec<Range<usize>>) {
    let Some(v) = t.get("buttons") else {
        return (Vec::new(), Vec::new());
    };
    let DeValue::Array(items) = v.get_ref() else {
        r.problem(
            v.span(),
            format!("`buttons` in {what} must be a list"),
            Some("buttons = [{ title = \"Menu\", intent = \"menu\" }]".to_owned()),
        );
        return (Vec::new(), Vec::new());
    };
    let mut buttons = Vec::new();
    let mut spans = Vec::new();
    for item in items.iter() {
        let DeValue::Table(bt) = item.get_ref() else {
            r.problem(
                item.span(),
                "a button must be { title = \"…\", intent = \"…\" }",
                None,
            );
            continue;
        };
        r.check_keys(bt, &["title", "intent"], "a button");
        let title = r.string(bt, "title", false, "a button");
        let intent = r.string(bt, "intent", false, "a button");
        match (title, intent) {
            (Some((title, _)), Some((intent, span))) => {
                buttons.push(IntentButton { title, intent });
                spans.push(span);
            }
            _ => r.problem(
                item.span(),
                format!("a button of {what} needs both `title` and `intent`"),
                None,
            ),
        }
    }
    (buttons, spans)
}

/// The candidate closest to `word` by edit distance, if close enough to be a typo.
fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .map(|c| (crate::matcher::edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

const FORM_FIELDS: &[&str] = &[
    "http",
    "id",
    "title",
    "confirm",
    "on_complete",
    "reply",
    "ticket_prefix",
    "sla_hours",
    "sla_working_days",
    "slot",
];
const SLOT_FIELDS: &[&str] = &[
    "name", "label", "prompt", "type", "required", "reask", "choices", "pattern", "retries",
];

fn parse_form_file(
    path: &Path,
    text: &str,
    lines: &[usize],
    office: &Office,
    problems: &mut Vec<PackProblem>,
) -> Vec<super::Form> {
    let Some(doc) = parse_toml(path, text, lines, problems) else {
        return Vec::new();
    };
    let mut r = Reader::new(path, text, lines, problems);
    let Some(items) = tables_of(&mut r, &doc, "form") else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| parse_form(&mut r, item, office))
        .collect()
}

fn parse_form(
    r: &mut Reader<'_>,
    item: &Spanned<DeValue<'_>>,
    office: &Office,
) -> Option<super::Form> {
    let DeValue::Table(t) = item.get_ref() else {
        r.problem(
            item.span(),
            "each form must be a table",
            Some("write each form as [[form]]".to_owned()),
        );
        return None;
    };
    let Some((id, id_span)) = r.string(t, "id", false, "a form") else {
        r.problem(
            item.span(),
            "form has no `id`",
            Some("add id = \"…\"".to_owned()),
        );
        return None;
    };
    let what = format!("form `{id}`");
    r.check_keys(t, FORM_FIELDS, &what);
    r.at = id_span.clone();
    let title = r
        .string(t, "title", false, &what)
        .map_or_else(|| id.clone(), |s| s.0);
    let confirm = r.boolean(t, "confirm", &what).unwrap_or(true);
    let on_complete = r
        .string(t, "on_complete", false, &what)
        .map_or(super::Action::Reply, |(a, _)| super::Action::parse(&a));
    let on_complete = http_details(r, t, on_complete, &what, &id_span);
    if on_complete == super::Action::TicketStatus {
        r.problem(
            id_span.clone(),
            format!("{what} cannot complete with `ticket.status`"),
            Some("use ticket.create, handoff, reply or a custom action".to_owned()),
        );
    }
    let ticket_prefix = r.string(t, "ticket_prefix", false, &what).map_or_else(
        || id.chars().take(3).collect::<String>().to_uppercase(),
        |s| s.0,
    );
    if !ticket_prefix.chars().all(|c| c.is_ascii_uppercase())
        || !(2..=5).contains(&ticket_prefix.len())
    {
        r.problem(
            id_span.clone(),
            format!("ticket prefix `{ticket_prefix}` of {what} must be 2–5 capital letters"),
            Some("e.g. ticket_prefix = \"ADU\"".to_owned()),
        );
    }
    let hours = r.count(t, "sla_hours", 1..=10_000, &what);
    let days = r.count(t, "sla_working_days", 1..=60, &what);
    let days_span = || {
        t.get("sla_working_days")
            .map_or(id_span.clone(), Spanned::span)
    };
    let sla = match (hours, days) {
        (Some(_), Some(_)) => {
            r.problem(
                days_span(),
                format!("{what} sets both `sla_hours` and `sla_working_days`"),
                Some(
                    "keep one: sla_working_days = 3 counts office days, sla_hours = 72 clock hours"
                        .to_owned(),
                ),
            );
            super::Sla::Hours(72)
        }
        (None, Some(d)) => {
            if office.schedule.iter().all(Option::is_none) {
                r.problem(
                    days_span(),
                    format!("{what} counts office days, but the office has no opening hours"),
                    Some("add [office.schedule] to pack.toml (senin = \"08:00-16:00\" …), or use sla_hours".to_owned()),
                );
            }
            super::Sla::WorkingDays(d)
        }
        (Some(h), None) => super::Sla::Hours(h),
        (None, None) => super::Sla::Hours(72),
    };

    let mut slots = Vec::new();
    match t.get("slot").map(Spanned::get_ref) {
        Some(DeValue::Array(items)) => {
            for item in items.iter() {
                if let Some(slot) = parse_slot(r, item, &what) {
                    if slots.iter().any(|s: &super::Slot| s.name == slot.name) {
                        r.problem(
                            item.span(),
                            format!("duplicate slot `{}` in {what}", slot.name),
                            None,
                        );
                    }
                    slots.push(slot);
                }
            }
        }
        _ => r.problem(
            id_span.clone(),
            format!("{what} has no slots"),
            Some("add [[form.slot]] tables with name, prompt and type".to_owned()),
        ),
    }

    let reply = match r.string(t, "reply", false, &what) {
        Some((text, span)) => match Template::parse(&text) {
            Ok(tpl) => {
                let mut known: Vec<String> =
                    OFFICE_VARIABLES.iter().map(|s| (*s).to_owned()).collect();
                known.extend(slots.iter().map(|s| format!("slot.{}", s.name)));
                known.push("form.title".to_owned());
                if on_complete == super::Action::TicketCreate {
                    known.extend(["ticket.id".to_owned(), "ticket.due".to_owned()]);
                }
                check_variables(r, &tpl, &span, &what, &known, Some(&on_complete));
                tpl
            }
            Err(e) => {
                r.problem(span, format!("reply of {what}: {}", e.message), None);
                Template::parse("").ok()?
            }
        },
        None => {
            r.problem(id_span.clone(), format!("{what} has no `reply`"), Some("say what happens when it is complete, e.g. reply = \"Terima kasih, {slot.nama}.\"".to_owned()));
            Template::parse("").ok()?
        }
    };
    let line = r.line(id_span.start);
    Some(super::Form {
        id,
        title,
        slots,
        confirm,
        on_complete,
        reply,
        ticket_prefix,
        sla,
        source: Source {
            file: r.file.to_owned(),
            line,
        },
    })
}

fn parse_slot(r: &mut Reader<'_>, item: &Spanned<DeValue<'_>>, form: &str) -> Option<super::Slot> {
    let DeValue::Table(t) = item.get_ref() else {
        r.problem(
            item.span(),
            format!("each slot of {form} must be a table"),
            Some("write each slot as [[form.slot]]".to_owned()),
        );
        return None;
    };
    r.at = item.span();
    let (name, name_span) = r.string(t, "name", true, &format!("a slot of {form}"))?;
    let what = format!("slot `{name}` of {form}");
    r.check_keys(t, SLOT_FIELDS, &what);
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        || name.is_empty()
    {
        r.problem(
            name_span.clone(),
            format!("slot name `{name}` is not a valid name"),
            Some("use lower-case letters, digits and _".to_owned()),
        );
    }
    r.at = name_span.clone();
    let prompt = r.string(t, "prompt", true, &what).map(|s| s.0);
    let kind = match r.string(t, "type", false, &what) {
        None => super::SlotKind::Text,
        Some((k, span)) => match super::SlotKind::parse(&k) {
            Some(kind) => kind,
            None => {
                let names: Vec<&str> = super::SlotKind::ALL.iter().map(|k| k.name()).collect();
                let hint = match closest(&k, names.iter().copied()) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!("types: {}", names.join(", ")),
                };
                r.problem(span, format!("unknown slot type `{k}`"), Some(hint));
                super::SlotKind::Text
            }
        },
    };
    let choices: Vec<String> = r
        .strings(t, "choices", &what)
        .into_iter()
        .map(|c| c.0)
        .collect();
    if kind == super::SlotKind::Choice && choices.len() < 2 {
        r.problem(
            name_span.clone(),
            format!("{what} is a choice with fewer than two `choices`"),
            Some("choices = [\"…\", \"…\"]".to_owned()),
        );
    }
    let pattern = match r.string(t, "pattern", false, &what) {
        Some((_, span)) if !matches!(kind, super::SlotKind::Text | super::SlotKind::Name) => {
            r.problem(
                span,
                format!("{what} has a `pattern`, which only text and name slots use"),
                Some(format!(
                    "a `{}` answer is checked by its type; remove `pattern`, or make the slot `type = \"text\"`",
                    kind.name()
                )),
            );
            None
        }
        Some((p, span)) => match regex::Regex::new(&p) {
            Ok(re) => Some(re),
            Err(e) => {
                let first = regex_error(&e);
                r.problem(
                    span,
                    format!("pattern of {what} does not compile: {first}"),
                    None,
                );
                None
            }
        },
        None => None,
    };
    let label = r.string(t, "label", false, &what).map_or_else(
        || {
            let spaced = name.replace('_', " ");
            let mut c = spaced.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect())
                .unwrap_or_default()
        },
        |s| s.0,
    );
    Some(super::Slot {
        label,
        prompt: prompt?,
        kind,
        required: r.boolean(t, "required", &what).unwrap_or(true),
        reask: r.string(t, "reask", false, &what).map(|s| s.0),
        choices,
        pattern,
        retries: r.count(t, "retries", 1..=10, &what).map_or(3, |n| n as u32),
        name,
    })
}

/// Reads the `http = { url, timeout_seconds, retries }` table of an `http`
/// action; other actions must not have one.
fn http_details(
    r: &mut Reader<'_>,
    t: &DeTable<'_>,
    action: super::Action,
    what: &str,
    at: &Range<usize>,
) -> super::Action {
    let super::Action::Http(mut spec) = action else {
        if let Some(v) = t.get("http") {
            r.problem(
                v.span(),
                format!("`http` on {what} whose action is not http"),
                Some("remove it, or set the action to \"http\"".to_owned()),
            );
        }
        return action;
    };
    let Some(h) = r.table(t, "http") else {
        r.problem(
            at.clone(),
            format!("{what} uses the http action without an `http` table"),
            Some("add http = { url = \"https://…\" }".to_owned()),
        );
        return super::Action::Http(spec);
    };
    r.check_keys(h, &["url", "timeout_seconds", "retries"], "an http action");
    match r.string(h, "url", true, "an http action") {
        Some((url, _)) if url.starts_with("http://") || url.starts_with("https://") => {
            spec.url = url
        }
        Some((url, span)) => {
            r.problem(
                span,
                format!("http url `{url}` must start with http:// or https://"),
                None,
            );
        }
        None => {}
    }
    if let Some(n) = r.count(h, "timeout_seconds", 1..=120, "an http action") {
        spec.timeout_seconds = n;
    }
    if let Some(n) = r.count(h, "retries", 0..=10, "an http action") {
        spec.retries = n as u32;
    }
    super::Action::Http(spec)
}
