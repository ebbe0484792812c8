//! Canonical JSON: object keys sorted, no whitespace. Hashing it gives the same key on any
//! machine whatever order a config file or a serializer produced.

use serde_json::Value;

pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_does_not_matter() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":[1,2],"x":true}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":true,"y":[1,2]},"b":1}"#).unwrap();
        assert_eq!(to_string(&a), to_string(&b));
        assert_eq!(to_string(&a), r#"{"a":{"x":true,"y":[1,2]},"b":1}"#);
    }

    #[test]
    fn values_do_matter() {
        assert_ne!(to_string(&json!({"a": 1})), to_string(&json!({"a": 1.5})));
        assert_ne!(to_string(&json!([1, 2])), to_string(&json!([2, 1])));
    }
}
