//! The part of JSON Schema the tool registry uses to describe params and credentials, and
//! the one checker the engine runs every call's params through.
//!
//! Supported keywords: `type` (a name or a list), `enum`, `const`, `properties`,
//! `required`, `additionalProperties` (`false` or a schema), `items`, `minItems`,
//! `maxItems`, `minLength`, `maxLength`, `minimum`, `maximum`, `anyOf`. Anything else is
//! description only (`description`, `examples`, `default`). The error names the failing
//! field as a path (`checkItems[2].name`), so a script sees exactly what to fix.

use serde_json::{Map, Value};

/// Checks `value` against `schema`; the error is one line starting with the field's path.
pub fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    check(schema, value, "")
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn label(path: &str) -> &str {
    if path.is_empty() {
        "params"
    } else {
        path
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(want: &str, v: &Value) -> bool {
    let got = type_name(v);
    want == got
        || (want == "number" && got == "integer")
        || (want == "integer" && v.as_f64().is_some_and(|f| f.fract() == 0.0))
}

fn check(schema: &Value, v: &Value, path: &str) -> Result<(), String> {
    let Some(s) = schema.as_object() else {
        return Ok(());
    };
    let at = label(path);
    if let Some(t) = s.get("type") {
        let wanted: Vec<&str> = match t {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !wanted.is_empty() && !wanted.iter().any(|w| type_matches(w, v)) {
            return Err(format!(
                "{at} must be {}, not {}",
                wanted
                    .iter()
                    .map(|w| a_type(w))
                    .collect::<Vec<_>>()
                    .join(" or "),
                a_type(type_name(v))
            ));
        }
    }
    if let Some(c) = s.get("const") {
        if c != v {
            return Err(format!("{at} must be {c}"));
        }
    }
    if let Some(Value::Array(options)) = s.get("enum") {
        if !options.contains(v) {
            let list: Vec<String> = options.iter().map(Value::to_string).collect();
            return Err(format!("{at} must be one of {}", list.join(", ")));
        }
    }
    if let Some(Value::Array(alts)) = s.get("anyOf") {
        let mut first = None;
        for alt in alts {
            match check(alt, v, path) {
                Ok(()) => {
                    first = None;
                    break;
                }
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first {
            return Err(e);
        }
    }
    match v {
        Value::String(text) => {
            let n = text.chars().count() as u64;
            if let Some(min) = s.get("minLength").and_then(Value::as_u64) {
                if n < min {
                    return Err(if min == 1 {
                        format!("{at} must not be empty")
                    } else {
                        format!("{at} must be at least {min} characters")
                    });
                }
            }
            if let Some(max) = s.get("maxLength").and_then(Value::as_u64) {
                if n > max {
                    return Err(format!("{at} must be at most {max} characters"));
                }
            }
        }
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(0.0);
            if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
                if f < min {
                    return Err(format!("{at} must be at least {min}"));
                }
            }
            if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
                if f > max {
                    return Err(format!("{at} must be at most {max}"));
                }
            }
        }
        Value::Array(items) => {
            if let Some(min) = s.get("minItems").and_then(Value::as_u64) {
                if (items.len() as u64) < min {
                    return Err(format!("{at} must have at least {min} entries"));
                }
            }
            if let Some(max) = s.get("maxItems").and_then(Value::as_u64) {
                if (items.len() as u64) > max {
                    return Err(format!("{at} must have at most {max} entries"));
                }
            }
            if let Some(item) = s.get("items") {
                for (i, x) in items.iter().enumerate() {
                    check(item, x, &format!("{at}[{i}]"))?;
                }
            }
        }
        Value::Object(m) => check_object(s, m, path)?,
        _ => {}
    }
    Ok(())
}

fn check_object(s: &Map<String, Value>, m: &Map<String, Value>, path: &str) -> Result<(), String> {
    let props = s.get("properties").and_then(Value::as_object);
    if let Some(Value::Array(req)) = s.get("required") {
        for r in req.iter().filter_map(Value::as_str) {
            if m.get(r).is_none_or(Value::is_null) {
                return Err(format!("{} is required", join(path, r)));
            }
        }
    }
    for (k, x) in m {
        let sub = props.and_then(|p| p.get(k));
        match (sub, s.get("additionalProperties")) {
            (Some(sub), _) => {
                // An optional field sent as null counts as absent.
                if !x.is_null() {
                    check(sub, x, &join(path, k))?;
                }
            }
            (None, Some(Value::Bool(false))) => {
                let known: Vec<&str> = props
                    .map(|p| p.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                let name: String = k.chars().filter(|c| !c.is_control()).take(64).collect();
                return Err(format!(
                    "{} is not a field {}takes; it takes {}",
                    join(path, &name),
                    if path.is_empty() {
                        "this action ".to_owned()
                    } else {
                        format!("{path} ")
                    },
                    known.join(", ")
                ));
            }
            (None, Some(extra @ Value::Object(_))) => check(extra, x, &join(path, k))?,
            (None, _) => {}
        }
    }
    Ok(())
}

fn a_type(t: &str) -> String {
    match t {
        "array" | "integer" | "object" => format!("an {t}"),
        "null" => "null".into(),
        other => format!("a {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_name_the_failing_field() {
        let schema = json!({
            "type": "object",
            "required": ["listId", "name"],
            "additionalProperties": false,
            "properties": {
                "listId": {"type": "string", "minLength": 1},
                "name": {"type": "string", "minLength": 1},
                "pos": {"anyOf": [{"enum": ["top", "bottom"]}, {"type": "number"}]},
                "items": {"type": "array", "items": {
                    "type": "object", "required": ["name"],
                    "properties": {"name": {"type": "string"}, "checked": {"type": "boolean"}}
                }},
                "n": {"type": "integer", "minimum": 1, "maximum": 100}
            }
        });
        assert!(validate(&schema, &json!({"listId": "l", "name": "x", "pos": 3})).is_ok());
        for (v, want) in [
            (json!({"name": "x"}), "listId is required"),
            (
                json!({"listId": 5, "name": "x"}),
                "listId must be a string, not an integer",
            ),
            (
                json!({"listId": "", "name": "x"}),
                "listId must not be empty",
            ),
            (
                json!({"listId": "l", "name": "x", "pos": "middle"}),
                "pos must be one of",
            ),
            (
                json!({"listId": "l", "name": "x", "items": [{"name": "a"}, {}]}),
                "items[1].name is required",
            ),
            (
                json!({"listId": "l", "name": "x", "items": [{"name": "a", "checked": "yes"}]}),
                "items[0].checked must be a boolean",
            ),
            (
                json!({"listId": "l", "name": "x", "n": 0}),
                "n must be at least 1",
            ),
            (
                json!({"listId": "l", "name": "x", "n": 1.5}),
                "n must be an integer",
            ),
            (
                json!({"listId": "l", "name": "x", "color": 1}),
                "color is not a field this action takes",
            ),
            (json!([1]), "params must be an object"),
        ] {
            let e = validate(&schema, &v).expect_err(&v.to_string());
            assert!(e.starts_with(want), "{e} vs {want}");
        }
    }
}
