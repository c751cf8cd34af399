//! "Did you mean" suggestions.

/// The closest candidate to `name`, if one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = name.to_lowercase();
    let max = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .filter_map(|c| {
            if c.to_lowercase() == lower {
                return Some((0, c));
            }
            // `Customer` for `CustomerSchema`: one is the other plus a short affix.
            let (short, long) = if c.len() < name.len() {
                (c, name)
            } else {
                (name, c)
            };
            if short.len() >= 3
                && long.len() - short.len() <= 6
                && (long.starts_with(short) || long.ends_with(short))
            {
                return Some((1, c));
            }
            // `RefundDailySchema` for `DailyRefundSchema`: the same words in another order.
            if words(c) == words(name) {
                return Some((1, c));
            }
            // `orders` for `raw.orders`: the unqualified part matches.
            if let Some((_, last)) = c.rsplit_once('.')
                && (last == name || strsim::damerau_levenshtein(name, last) <= max)
            {
                return Some((1, c));
            }
            let d = strsim::damerau_levenshtein(name, c);
            (d <= max).then_some((d, c))
        })
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)))
        .map(|(_, c)| c)
}

/// The lowercase words of a `CamelCase`, `snake_case` or `dotted.name`, sorted.
fn words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    for c in name.chars() {
        if (c == '_' || c == '.' || c.is_uppercase()) && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        if c != '_' && c != '.' {
            current.extend(c.to_lowercase());
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words.sort();
    words
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_close_names_only() {
        let names = ["parent_table", "child_table", "raw_table"];
        assert_eq!(did_you_mean("parnt_table", names), Some("parent_table"));
        assert_eq!(did_you_mean("Raw_Table", names), Some("raw_table"));
        assert_eq!(did_you_mean("orders", names), None);
        assert_eq!(did_you_mean("x", ["y"]), Some("y"));
        assert_eq!(
            did_you_mean("orders", ["raw.orders", "order_lines"]),
            Some("raw.orders")
        );
    }
}
