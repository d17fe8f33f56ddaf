//! `${VAR}` substitution in string values, done on the parsed YAML tree (not the text) so that a
//! secret containing `:` or `#` cannot change the document's structure. `$${...}` is a literal
//! `${...}`. Keys are not substituted.

use serde_yaml::Value;

use super::ConfigError;

/// Replaces every `${VAR}` in every string value, collecting one error per missing or malformed
/// reference, each with its path.
pub(crate) fn substitute(
    value: &mut Value,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) {
    walk(value, String::new(), env, errors);
}

fn walk(
    value: &mut Value,
    path: String,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) {
    match value {
        Value::String(s) => {
            if s.contains('$') {
                match expand(s, env) {
                    Ok(expanded) => *s = expanded,
                    Err(message) => errors.push(ConfigError::new(path, message)),
                }
            }
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, format!("{path}[{i}]"), env, errors);
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let key = match key {
                    Value::String(k) => k.clone(),
                    other => serde_yaml::to_string(other)
                        .map(|s| s.trim_end().to_owned())
                        .unwrap_or_else(|_| "?".to_owned()),
                };
                let child = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                walk(item, child, env, errors);
            }
        }
        Value::Tagged(tagged) => walk(&mut tagged.value, path, env, errors),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Expands one string. Only the first problem in a string is reported: after a malformed
/// reference the rest of the string cannot be read reliably.
pub(crate) fn expand(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let Some(end) = after.find('}') else {
                return Err("unterminated \"${\" (write \"$${\" for a literal)".to_owned());
            };
            let name = &after[..end];
            if !is_var_name(name) {
                return Err(format!(
                    "\"${{{name}}}\" is not a valid environment variable reference \
                     (letters, digits and _ only; write \"$${{\" for a literal)"
                ));
            }
            match env(name) {
                Some(v) => out.push_str(&v),
                None => return Err(format!("environment variable {name} is not set")),
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_var_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("x:y #z".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_escapes_and_refuses() {
        assert_eq!(expand("pre-${A}-post", &env).unwrap(), "pre-x:y #z-post");
        assert_eq!(expand("$${A}", &env).unwrap(), "${A}");
        assert_eq!(expand("a$${A}b${A}", &env).unwrap(), "a${A}bx:y #z");
        assert_eq!(expand("cost $5 ${EMPTY}", &env).unwrap(), "cost $5 ");
        assert_eq!(expand("$", &env).unwrap(), "$");
        assert!(expand("${B}", &env).unwrap_err().contains("B is not set"));
        assert!(expand("${A", &env).unwrap_err().contains("unterminated"));
        assert!(expand("${1A}", &env).unwrap_err().contains("not a valid"));
        assert!(expand("${}", &env).unwrap_err().contains("not a valid"));
    }
}
