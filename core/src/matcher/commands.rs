//! Layer 1: exact commands (`#info`, `/start`, `#status ADU-…`) and button
//! payloads.

use std::collections::HashMap;

#[derive(Debug, Default)]
pub(crate) struct Commands {
    by_name: HashMap<String, u32>,
}

impl Commands {
    pub(crate) fn insert(&mut self, command: &str, intent: u32) {
        self.by_name.insert(command.to_lowercase(), intent);
    }

    /// The intent whose command starts `raw`, and the rest of the text as
    /// the command's argument. `/start@my_bot` (Telegram groups) counts as `/start`.
    pub(crate) fn find<'t>(&self, raw: &'t str) -> Option<(u32, &'t str)> {
        let raw = raw.trim();
        let (head, rest) = raw
            .split_once(char::is_whitespace)
            .map_or((raw, ""), |(h, r)| (h, r.trim()));
        if !head.starts_with(['#', '/', '!']) && !self.by_name.contains_key(&head.to_lowercase()) {
            return None;
        }
        let head = head.split('@').next().unwrap_or(head).to_lowercase();
        self.by_name.get(&head).map(|&i| (i, rest))
    }
}
