//! Body templates: `{{name}}` placeholders filled with values in one pass.

/// Fills `{{name}}` placeholders in a body template with `values`. Inside a JSON template
/// (one starting with `{` or `[`) the values are JSON-escaped, so a quote in a reason
/// cannot break the document. Longer names win where two match at one place
/// (`{{target_id}}` before `{{target}}`), and unknown placeholders are left as written.
pub fn fill_template(template: &str, values: &[(&str, &str)]) -> String {
    fill_template_with(template, values, &[])
}

/// [`fill_template`], plus `verbatim` values that go in exactly as given, never escaped:
/// a JSON document standing for a value (the webhook's `{{event}}`).
///
/// One pass over the template: a filled-in value is never scanned again, so a value that
/// itself holds `{{event}}` (a probe body quoted in a failure reason) stays text instead
/// of pulling the raw event JSON into the body.
pub fn fill_template_with(
    template: &str,
    values: &[(&str, &str)],
    verbatim: &[(&str, &str)],
) -> String {
    let json = template.trim_start().starts_with(['{', '[']);
    let mut ordered: Vec<(&str, &str, bool)> = values
        .iter()
        .map(|(name, value)| (*name, *value, json))
        .chain(verbatim.iter().map(|(name, value)| (*name, *value, false)))
        .collect();
    ordered.sort_by_key(|(name, _, _)| std::cmp::Reverse(name.len()));
    let mut filled = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        filled.push_str(&rest[..open]);
        let after_open = &rest[open + 2..];
        let matched = ordered.iter().find(|(name, _, _)| {
            after_open
                .strip_prefix(name)
                .is_some_and(|tail| tail.starts_with("}}"))
        });
        match matched {
            Some((name, value, escape)) => {
                if *escape {
                    push_json_escaped(&mut filled, value);
                } else {
                    filled.push_str(value);
                }
                rest = &after_open[name.len() + 2..];
            }
            None => {
                // Not a placeholder here: keep one brace and look again from the next,
                // so `{{{target}}}` still fills its inner `{{target}}`.
                filled.push('{');
                rest = &rest[open + 1..];
            }
        }
    }
    filled.push_str(rest);
    filled
}

/// Appends `value` as the inside of a JSON string literal (no surrounding quotes).
fn push_json_escaped(out: &mut String, value: &str) {
    let quoted = serde_json::to_string(value).unwrap_or_default();
    out.push_str(&quoted[1..quoted.len() - 1]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_holding_a_placeholder_is_not_expanded_again() {
        let template = r#"{"reason": "{{reason}}", "event": {{event}}}"#;
        let filled = fill_template_with(
            template,
            &[("reason", "body was {{event}} and {{reason}}")],
            &[("event", r#"{"secret": 1}"#)],
        );
        assert_eq!(
            filled,
            r#"{"reason": "body was {{event}} and {{reason}}", "event": {"secret": 1}}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&filled).unwrap();
        assert_eq!(parsed["reason"], "body was {{event}} and {{reason}}");
    }

    #[test]
    fn a_value_holding_a_later_placeholder_is_not_expanded() {
        // Filled one after another, `{{target}}` inside the reason became the target.
        let filled = fill_template(
            "{{reason}} on {{target}}",
            &[("reason", "saw {{target}}"), ("target", "web")],
        );
        assert_eq!(filled, "saw {{target}} on web");
    }

    #[test]
    fn longer_names_win_unknown_ones_stay_and_extra_braces_are_kept() {
        let filled = fill_template(
            "{{target_id}}/{{target}}/{{nope}}/{{{target}}}/{{",
            &[("target", "t"), ("target_id", "id")],
        );
        assert_eq!(filled, "id/t/{{nope}}/{t}/{{");
    }

    #[test]
    fn json_templates_escape_values_and_plain_ones_do_not() {
        let values = [("reason", "say \"hi\"\n")];
        assert_eq!(
            fill_template(r#"{"r": "{{reason}}"}"#, &values),
            r#"{"r": "say \"hi\"\n"}"#
        );
        assert_eq!(fill_template("r={{reason}}", &values), "r=say \"hi\"\n");
    }
}
