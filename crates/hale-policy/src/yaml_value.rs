//! A YAML document's content, ready to become a typed resource.
//!
//! Every scalar keeps the text it was written with beside the value YAML resolves it to, so
//! that a field that wants a string gets what the person wrote (`autoheal: true`,
//! `version: 1.10`, `command: [true]`) while a field that wants a number or a boolean gets
//! the resolved value. That is how a typed YAML reader behaves, and what users of Compose
//! and Kubernetes files expect.

use std::fmt;

use serde::de::value::{MapAccessDeserializer, MapDeserializer, SeqDeserializer};
use serde::de::{self, IntoDeserializer, Visitor};

/// A node of a YAML document.
#[derive(Debug, Clone, PartialEq)]
pub enum YamlValue {
    /// `null`, `~` or nothing.
    Null,
    /// A scalar: what it resolves to, and how it was written.
    Scalar(Scalar),
    /// A sequence.
    Sequence(Vec<YamlValue>),
    /// A mapping, in document order; keys are the scalars' text.
    Mapping(Vec<(String, YamlValue)>),
}

/// A scalar with its resolved value and its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    /// What YAML 1.2's core schema makes of it.
    pub resolved: Resolved,
    /// The text as written (for a quoted scalar, its content).
    pub text: String,
}

/// The value a scalar resolves to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolved {
    /// `true` or `false`.
    Bool(bool),
    /// A negative integer.
    Signed(i64),
    /// A non-negative integer.
    Unsigned(u64),
    /// A floating-point number.
    Float(f64),
    /// A string: the text itself.
    Text,
}

impl YamlValue {
    /// The text of the scalar under `key`, if this is a mapping that has one.
    pub fn text_at(&self, key: &str) -> Option<&str> {
        let Self::Mapping(entries) = self else {
            return None;
        };
        match entries.iter().find(|(name, _)| name == key)?.1 {
            Self::Scalar(ref scalar) => Some(&scalar.text),
            _ => None,
        }
    }
}

/// Why a document's content does not fit the type it is read into, as serde words it
/// (`invalid type: sequence, expected a string`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(String);

impl de::Error for ValueError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self(message.to_string())
    }
}

impl<'de> IntoDeserializer<'de, ValueError> for YamlValue {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for YamlValue {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Self::Null => visitor.visit_unit(),
            Self::Scalar(Scalar { resolved, text }) => match resolved {
                Resolved::Bool(value) => visitor.visit_bool(value),
                Resolved::Signed(value) => visitor.visit_i64(value),
                Resolved::Unsigned(value) => visitor.visit_u64(value),
                Resolved::Float(value) => visitor.visit_f64(value),
                Resolved::Text => visitor.visit_string(text),
            },
            Self::Sequence(items) => {
                let mut access = SeqDeserializer::new(items.into_iter());
                let value = visitor.visit_seq(&mut access)?;
                access.end()?;
                Ok(value)
            }
            Self::Mapping(entries) => {
                let mut access = MapDeserializer::new(entries.into_iter());
                let value = visitor.visit_map(&mut access)?;
                access.end()?;
                Ok(value)
            }
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Self::Scalar(scalar) => visitor.visit_string(scalar.text),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Self::Null => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self {
            Self::Scalar(scalar) => visitor.visit_enum(scalar.text.into_deserializer()),
            Self::Mapping(entries) if entries.len() == 1 => visitor.visit_enum(
                MapAccessDeserializer::new(MapDeserializer::new(entries.into_iter())),
            ),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit
        unit_struct seq tuple tuple_struct map struct
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    fn scalar(resolved: Resolved, text: &str) -> YamlValue {
        YamlValue::Scalar(Scalar {
            resolved,
            text: text.to_owned(),
        })
    }

    #[test]
    fn a_string_field_gets_the_text_as_written() {
        let labels = YamlValue::Mapping(vec![
            ("autoheal".into(), scalar(Resolved::Bool(true), "true")),
            ("version".into(), scalar(Resolved::Float(1.1), "1.10")),
        ]);
        let read = BTreeMap::<String, String>::deserialize(labels).unwrap();
        assert_eq!(read["autoheal"], "true");
        assert_eq!(read["version"], "1.10");
    }

    #[test]
    fn typed_fields_get_the_resolved_value_and_serdes_own_errors() {
        assert_eq!(
            u16::deserialize(scalar(Resolved::Unsigned(8080), "8080")).unwrap(),
            8080
        );
        let error = String::deserialize(YamlValue::Sequence(Vec::new())).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid type: sequence, expected a string"
        );
        assert_eq!(Option::<u32>::deserialize(YamlValue::Null).unwrap(), None);
    }
}
