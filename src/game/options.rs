//! Reading a room's options (`POST /v1/rooms {"game", "options"}`) for a game kind.
//!
//! Every kind takes a flat JSON object of small integers. [`OptionsReader`] checks it the same
//! way for all of them, so that a client always gets one kind of answer: an unknown field, a
//! value of the wrong type or one out of bounds is an [`OptionsError::Invalid`] whose message
//! names the game, the field and the accepted range.

use std::ops::RangeInclusive;

use serde_json::{Map, Value};

use super::OptionsError;

/// The options object of one room, checked against the fields its game kind knows.
pub struct OptionsReader<'a> {
    game: &'static str,
    fields: Option<&'a Map<String, Value>>,
}

impl<'a> OptionsReader<'a> {
    /// `null` (no options) reads as every field left at its default; anything but an object or
    /// `null`, or a field not in `known`, is refused.
    pub fn new(
        game: &'static str,
        options: &'a Value,
        known: &[&str],
    ) -> Result<Self, OptionsError> {
        let fields = match options {
            Value::Null => None,
            Value::Object(fields) => Some(fields),
            other => {
                return Err(OptionsError::Invalid(format!(
                    "{game}: options must be a JSON object, not {}",
                    type_name(other)
                )))
            }
        };
        if let Some(unknown) = fields
            .into_iter()
            .flat_map(|f| f.keys())
            .find(|key| !known.contains(&key.as_str()))
        {
            return Err(OptionsError::Invalid(format!(
                "{game}: unknown option {unknown:?}; known options are {}",
                known.join(", ")
            )));
        }
        Ok(OptionsReader { game, fields })
    }

    /// The integer field `name`, within `bounds`; `None` when it is absent or `null`.
    pub fn optional_integer(
        &self,
        name: &str,
        bounds: RangeInclusive<u64>,
    ) -> Result<Option<u64>, OptionsError> {
        let value = match self.fields.and_then(|f| f.get(name)) {
            None | Some(Value::Null) => return Ok(None),
            Some(value) => value,
        };
        match value.as_u64() {
            Some(n) if bounds.contains(&n) => Ok(Some(n)),
            _ => Err(OptionsError::Invalid(format!(
                "{}: {name} must be an integer from {} to {}, not {value}",
                self.game,
                bounds.start(),
                bounds.end()
            ))),
        }
    }

    /// The integer field `name`, within `bounds`, or `default` when it is absent or `null`.
    pub fn integer(
        &self,
        name: &str,
        bounds: RangeInclusive<u64>,
        default: u64,
    ) -> Result<u64, OptionsError> {
        Ok(self.optional_integer(name, bounds)?.unwrap_or(default))
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(err: OptionsError) -> String {
        match err {
            OptionsError::Invalid(message) => message,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn defaults_apply_to_missing_and_null_fields() {
        for options in [Value::Null, json!({}), json!({"size": null})] {
            let reader = OptionsReader::new("demo", &options, &["size"]).unwrap();
            assert_eq!(reader.integer("size", 1..=9, 4).unwrap(), 4);
        }
        let options = json!({"size": 9});
        let reader = OptionsReader::new("demo", &options, &["size"]).unwrap();
        assert_eq!(reader.integer("size", 1..=9, 4).unwrap(), 9);
    }

    #[test]
    fn errors_name_the_game_the_field_and_the_bounds() {
        let options = json!({"colour": "red"});
        let err = message(
            OptionsReader::new("demo", &options, &["size", "speed"])
                .err()
                .unwrap(),
        );
        assert_eq!(
            err,
            r#"demo: unknown option "colour"; known options are size, speed"#
        );
        for (bad, shown) in [
            (json!(10), "10"),
            (json!(0), "0"),
            (json!(-1), "-1"),
            (json!(2.5), "2.5"),
            (json!("4"), "\"4\""),
            (json!([4]), "[4]"),
        ] {
            let options = json!({ "size": bad });
            let reader = OptionsReader::new("demo", &options, &["size"]).unwrap();
            let err = message(reader.integer("size", 1..=9, 4).unwrap_err());
            assert_eq!(
                err,
                format!("demo: size must be an integer from 1 to 9, not {shown}")
            );
        }
        let err = message(
            OptionsReader::new("demo", &json!([1]), &["size"])
                .err()
                .unwrap(),
        );
        assert_eq!(err, "demo: options must be a JSON object, not an array");
    }
}
