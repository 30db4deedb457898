//! The SQL dialect of the query endpoint: sqlparser's `GenericDialect`
//! (what DataFusion uses by default), except that keywords opening a
//! nested expression are never retried as plain identifiers.
//!
//! Why: on a keyword such as `CASE` or `ARRAY`, the parser first tries the
//! keyword's own syntax and, when that fails, rewinds and tries the word as
//! a column or function name, which parses the same nested input again.
//! Nested `n` deep, an invalid input is parsed `2^n` times: 20 unclosed
//! `ARRAY[` or `CASE WHEN 1 THEN` (about 300 bytes) kept one core busy for
//! seconds, 30 for many minutes, and parsing is synchronous, so neither the
//! query timeout nor the client going away stops it (the upstream bug:
//! apache/datafusion-sqlparser-rs#2352). The retry only helps columns named
//! like these keywords, and no revstream table has one, so refusing it
//! costs nothing but changes a hang into an immediate 400.
//!
//! Everything else is forwarded to `GenericDialect`, including its type
//! identity, which the parser checks for dialect-specific syntax. The test
//! below parses the golden queries with both dialects and compares. Other
//! constructs that are tried two ways inside their own syntax (`POSITION(`,
//! `IN (`, `{`) are bounded by a nesting limit in `guard.rs`.

use std::any::TypeId;

use deltalake::datafusion::sql::sqlparser::dialect::{Dialect, GenericDialect};
use deltalake::datafusion::sql::sqlparser::keywords::{self, Keyword};

/// Keywords whose own syntax nests expressions, so that a retry as an
/// identifier doubles the work per level (`TRIM`, `EXISTS`, `INTERVAL` and
/// `STRUCT` are already in sqlparser's default list).
const NO_IDENTIFIER_RETRY: &[Keyword] = &[
    Keyword::ARRAY,
    Keyword::CASE,
    Keyword::CAST,
    Keyword::CEIL,
    Keyword::CONVERT,
    Keyword::EXTRACT,
    Keyword::FLOOR,
    Keyword::LAMBDA,
    Keyword::MAP,
    Keyword::MATCH,
    Keyword::NOT,
    Keyword::OVERLAY,
    Keyword::POSITION,
    Keyword::PRIOR,
    Keyword::SAFE_CAST,
    Keyword::SUBSTR,
    Keyword::SUBSTRING,
    Keyword::TRY_CAST,
    Keyword::TRY_CONVERT,
];

/// `GenericDialect` without the exponential identifier retry.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct QueryDialect(GenericDialect);

/// Forwards `GenericDialect`'s boolean switches unchanged.
macro_rules! forward_flags {
    ($($name:ident,)*) => {
        $(
            fn $name(&self) -> bool {
                self.0.$name()
            }
        )*
    };
}

impl Dialect for QueryDialect {
    fn dialect(&self) -> TypeId {
        self.0.dialect()
    }

    fn is_reserved_for_identifier(&self, kw: Keyword) -> bool {
        keywords::RESERVED_FOR_IDENTIFIER.contains(&kw) || NO_IDENTIFIER_RETRY.contains(&kw)
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        self.0.is_delimited_identifier_start(ch)
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        self.0.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        self.0.is_identifier_part(ch)
    }

    forward_flags! {
        supports_unicode_string_literal,
        supports_partition_by_after_order_by,
        supports_array_join_syntax,
        supports_group_by_expr,
        supports_group_by_with_modifier,
        supports_left_associative_joins_without_parens,
        supports_connect_by,
        supports_match_recognize,
        supports_pipe_operator,
        supports_start_transaction_modifier,
        supports_window_function_null_treatment_arg,
        supports_dictionary_syntax,
        supports_window_clause_named_window_reference,
        supports_parenthesized_set_variables,
        supports_select_wildcard_except,
        support_map_literal_syntax,
        allow_extract_custom,
        allow_extract_single_quotes,
        supports_extract_comma_syntax,
        supports_create_view_comment_syntax,
        supports_parens_around_table_factor,
        supports_values_as_table_factor,
        supports_create_index_with_clause,
        supports_explain_with_utility_options,
        supports_limit_comma,
        supports_update_order_by,
        supports_from_first_select,
        supports_projection_trailing_commas,
        supports_asc_desc_in_column_definition,
        supports_try_convert,
        supports_bitwise_shift_operators,
        supports_comment_on,
        supports_load_extension,
        supports_named_fn_args_with_assignment_operator,
        supports_struct_literal,
        supports_empty_projections,
        supports_nested_comments,
        supports_multiline_comment_hints,
        supports_user_host_grantee,
        supports_string_escape_constant,
        supports_array_typedef_with_brackets,
        supports_match_against,
        supports_set_names,
        supports_comma_separated_set_assignments,
        supports_filter_during_aggregation,
        supports_select_wildcard_exclude,
        supports_data_type_signed_suffix,
        supports_interval_options,
        supports_quote_delimited_string,
        supports_select_wildcard_replace,
        supports_select_wildcard_ilike,
        supports_select_wildcard_rename,
        supports_optimize_table,
        supports_install,
        supports_detach,
        supports_prewhere,
        supports_with_fill,
        supports_limit_by,
        supports_interpolate,
        supports_settings,
        supports_select_format,
        supports_comment_optimizer_hint,
        supports_constraint_keyword_without_name,
        supports_key_column_option,
        supports_comma_separated_trim,
        supports_cte_without_as,
        supports_select_item_multi_column_alias,
        supports_xml_expressions,
    }
}

#[cfg(test)]
mod tests {
    use deltalake::datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn parse(dialect: &dyn Dialect, sql: &str) -> String {
        format!("{:?}", Parser::parse_sql(dialect, sql))
    }

    /// Valid SQL means the same with both dialects; the golden queries and
    /// the keywords' own syntax are the sample.
    #[test]
    fn parses_valid_sql_like_the_generic_dialect() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");
        let mut sql: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        assert!(sql.len() >= 20);
        sql.extend(
            [
                "SELECT CASE WHEN a > 1 THEN 'x' ELSE 'y' END, ARRAY[1, 2][1], CAST(a AS BIGINT)",
                "SELECT TRY_CAST(a AS INT), CEIL(a), FLOOR(a), EXTRACT(YEAR FROM t)",
                "SELECT POSITION('a' IN b), SUBSTRING(b FROM 1 FOR 2), SUBSTR(b, 1, 2)",
                "SELECT OVERLAY(b PLACING 'x' FROM 1), NOT a, MAP {'a': 1}, CONVERT(a, INT)",
                "SELECT array_agg(x), make_array(1, 2), \"case\", \"array\" FROM t",
                "SELECT interval '1 day', TRIM(b), EXISTS (SELECT 1)",
            ]
            .map(str::to_owned),
        );
        for q in &sql {
            assert_eq!(
                parse(&QueryDialect::default(), q),
                parse(&GenericDialect {}, q),
                "{q}"
            );
        }
    }
}
