//! The `Condition` element: operator names, values, and the warnings about
//! conditions that allow more than their author probably meant.

use crate::shared::policy::ast::Effect;
use crate::shared::policy::condition::{Condition, Operator, SetQualifier};
use crate::shared::policy::raw::Json;

use super::builder::Builder;

pub(super) fn build_conditions(
    b: &mut Builder<'_>,
    value: &Json,
    effect: Option<Effect>,
) -> Option<Vec<Condition>> {
    let Json::Object(operators) = value else {
        b.error(
            "Condition",
            format!("Condition must be an object, found {}", value.type_name()),
        );
        return None;
    };
    let substitute = b.version.substitutes_variables();
    // Keys that a `"Null": {"key": "false"}` in this block requires to be
    // present: `ForAllValues` over them cannot be vacuously true.
    let required_present: Vec<String> = operators
        .iter()
        .filter(|(op, _)| op == "Null")
        .filter_map(|(_, keys)| match keys {
            Json::Object(keys) => Some(keys),
            _ => None,
        })
        .flatten()
        .filter(|(_, v)| {
            v.scalar_text()
                .is_some_and(|t| t.eq_ignore_ascii_case("false"))
        })
        .map(|(k, _)| k.to_ascii_lowercase())
        .collect();
    let mut out = Vec::new();
    let mut ok = true;
    for (op_name, keys) in operators {
        let field = format!("Condition.{op_name}");
        let operator = match Operator::parse(op_name) {
            Ok(op) => op,
            Err(e) => {
                b.error(&field, e);
                ok = false;
                continue;
            }
        };
        let Json::Object(keys) = keys else {
            b.error(
                &field,
                format!(
                    "{op_name} must map condition keys to values, found {}",
                    keys.type_name()
                ),
            );
            ok = false;
            continue;
        };
        if keys.is_empty() {
            b.error(&field, format!("{op_name} has no condition key"));
            ok = false;
        }
        for (key, raw_values) in keys {
            let key_field = format!("{field}.{key}");
            if !key.contains(':') {
                b.warning(&key_field, format!("condition key \"{key}\" has no service prefix (such as aws: or codecommit:)"));
            }
            let values: Option<Vec<String>> = match raw_values {
                Json::Array(items) => items.iter().map(Json::scalar_text).collect(),
                other => other.scalar_text().map(|t| vec![t]),
            };
            let Some(values) = values else {
                b.error(
                    &key_field,
                    format!("values of \"{key}\" must be strings, numbers or booleans"),
                );
                ok = false;
                continue;
            };
            if operator.set == SetQualifier::ForAllValues
                && effect == Some(Effect::Allow)
                && !operator.base.is_negated()
                && !required_present.contains(&key.to_ascii_lowercase())
            {
                b.warning(
                    &key_field,
                    format!("ForAllValues with Allow is true when \"{key}\" is absent or empty: add \"Null\": {{\"{key}\": \"false\"}} or it can allow more than intended"),
                );
            }
            match Condition::new(operator, key, &values, substitute) {
                Ok(c) => out.push(c),
                Err(e) => {
                    b.error(&key_field, e);
                    ok = false;
                }
            }
        }
    }
    ok.then_some(out)
}
