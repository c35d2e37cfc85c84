//! apache-avro's name rules without its regexes: the specification's
//! validators match each name with a regex-lite PikeVM, which was two thirds
//! of `Schema::parse` (an eighth of `meshc check` on a mesh of 10,000 Avro
//! files). These accept and refuse exactly what those regexes do, with the
//! same errors (the messages quote the same patterns).

use apache_avro::error::Details;
use apache_avro::schema::Namespace;
use apache_avro::validator::{
    set_enum_symbol_name_validator, set_record_field_name_validator, set_schema_name_validator,
    set_schema_namespace_validator, EnumSymbolNameValidator, RecordFieldNameValidator, SchemaNameValidator,
    SchemaNamespaceValidator,
};
use apache_avro::AvroResult;

/// apache-avro's patterns, quoted by its errors.
const NAME_PATTERN: &str =
    r"^((?P<namespace>([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)?)\.)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)$";
const NAMESPACE_PATTERN: &str = r"^([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)?$";

/// Installs the validators for the process, before the first schema is
/// parsed (apache-avro keeps them in statics set once).
pub(super) fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // An `Err` means one was set already (by an embedding program): its choice stands.
        let _ = set_schema_name_validator(Box::new(Specification));
        let _ = set_schema_namespace_validator(Box::new(Specification));
        let _ = set_enum_symbol_name_validator(Box::new(Specification));
        let _ = set_record_field_name_validator(Box::new(Specification));
    });
}

struct Specification;

/// `[A-Za-z_][A-Za-z0-9_]*`
fn is_ident(text: &str) -> bool {
    let mut bytes = text.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Empty, or identifiers joined by dots.
fn is_namespace(text: &str) -> bool {
    text.is_empty() || text.split('.').all(is_ident)
}

impl SchemaNameValidator for Specification {
    fn validate(&self, schema_name: &str) -> AvroResult<(String, Namespace)> {
        let (namespace, name) = match schema_name.rsplit_once('.') {
            Some((namespace, name)) => (Some(namespace), name),
            None => (None, schema_name),
        };
        if !is_ident(name) || !namespace.is_none_or(is_namespace) {
            return Err(Details::InvalidSchemaName(schema_name.to_string(), NAME_PATTERN).into());
        }
        Ok((name.to_string(), namespace.map(str::to_string)))
    }
}

impl SchemaNamespaceValidator for Specification {
    fn validate(&self, namespace: &str) -> AvroResult<()> {
        match is_namespace(namespace) {
            true => Ok(()),
            false => Err(Details::InvalidNamespace(namespace.to_string(), NAMESPACE_PATTERN).into()),
        }
    }
}

impl EnumSymbolNameValidator for Specification {
    fn validate(&self, symbol: &str) -> AvroResult<()> {
        match is_ident(symbol) {
            true => Ok(()),
            false => Err(Details::EnumSymbolName(symbol.to_string()).into()),
        }
    }
}

impl RecordFieldNameValidator for Specification {
    fn validate(&self, field_name: &str) -> AvroResult<()> {
        match is_ident(field_name) {
            true => Ok(()),
            false => Err(Details::FieldName(field_name.to_string()).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: &[&str] = &[
        "",
        ".",
        "..",
        "a",
        "_",
        "A9",
        "9a",
        "a.b",
        "a.b.C",
        ".C",
        "a..C",
        "a.",
        ".a.b",
        "a.9b",
        "é",
        "a-b",
        "a b",
        "a.b_c.D_e1",
        "_._",
        "a.b.",
        "ab\n",
        "\u{212A}",
        "a.b.c.d.e.f.g",
    ];

    #[test]
    fn names_split_and_refuse_as_the_regex_does() {
        // apache-avro's own regex (the trait's default, which these validators do not use).
        let name = SchemaNameValidator::regex(&Specification);
        assert_eq!(name.as_str(), NAME_PATTERN);
        for sample in SAMPLES {
            let expected = name
                .captures(sample)
                .map(|caps| (caps["name"].to_string(), caps.name("namespace").map(|s| s.as_str().to_string())));
            let got = SchemaNameValidator::validate(&Specification, sample).ok();
            assert_eq!(got, expected, "{sample:?}");
        }
    }

    #[test]
    fn namespaces_symbols_and_fields_match_the_regexes() {
        let namespace = SchemaNamespaceValidator::regex(&Specification);
        assert_eq!(namespace.as_str(), NAMESPACE_PATTERN);
        let symbol = EnumSymbolNameValidator::regex(&Specification);
        let field = RecordFieldNameValidator::regex(&Specification);
        for sample in SAMPLES {
            assert_eq!(SchemaNamespaceValidator::validate(&Specification, sample).is_ok(), namespace.is_match(sample));
            assert_eq!(EnumSymbolNameValidator::validate(&Specification, sample).is_ok(), symbol.is_match(sample));
            assert_eq!(RecordFieldNameValidator::validate(&Specification, sample).is_ok(), field.is_match(sample));
        }
    }

    #[test]
    fn errors_quote_the_specification_patterns() {
        let error = SchemaNameValidator::validate(&Specification, "9a").unwrap_err();
        assert!(error.to_string().contains(NAME_PATTERN), "{error}");
        let error = SchemaNamespaceValidator::validate(&Specification, "a..b").unwrap_err();
        assert!(error.to_string().contains(NAMESPACE_PATTERN), "{error}");
    }
}
