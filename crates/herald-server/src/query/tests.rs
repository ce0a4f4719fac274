//! Golden tests: KQL in, the exact SQL and parameters out; and the 400s' messages.

use super::*;

const NOW: i64 = 1_764_000_000_000;
const EPOCH: u64 = 1_733_000_000_000;

fn sql(kql: &str) -> Sql {
    let query = parse(kql, NOW).unwrap_or_else(|e| panic!("{kql}: {e}"));
    compile(&query, EPOCH, None).unwrap_or_else(|e| panic!("{kql}: {e}"))
}

fn error(kql: &str) -> String {
    match parse(kql, NOW).and_then(|q| compile(&q, EPOCH, None)) {
        Ok(sql) => panic!("{kql} compiled to {}", sql.text),
        Err(e) => e.0,
    }
}

fn text(s: &str) -> Param {
    Param::Text(s.to_owned())
}

const EVENTS: &str = "SELECT seq AS c0, coalesce(CAST(round(unixepoch(json ->> '$.time', 'subsec') * 1000) AS INTEGER), stored_ms) AS c1, \
     type AS c2, source AS c3, id AS c4, (json -> ?) AS c5, (json -> ?) AS c6, (json -> ?) AS c7, (json -> ?) AS c8 FROM events";

fn event_params() -> Vec<Param> {
    vec![text("$.subject"), text("$.correlationid"), text("$.causationid"), text("$.data")]
}

#[test]
fn the_table_alone_is_every_event_in_log_order_with_the_default_columns() {
    let got = sql("events");
    assert_eq!(got.text, format!("{EVENTS} ORDER BY seq ASC LIMIT 10001"));
    assert_eq!(got.params, event_params());
    let names: Vec<&str> = got.columns.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["position", "time", "type", "source", "id", "subject", "correlationid", "causationid", "data"]);
    assert_eq!(got.limit, MAX_ROWS);
}

#[test]
fn the_alerts_of_one_correlation_id() {
    let got = sql(r#"events | where type == "nop.noise.alert" and correlationid == "c-42" | take 20"#);
    assert_eq!(
        got.text,
        format!("{EVENTS} WHERE ((type = ?) AND ((json ->> ?) = ?)) ORDER BY seq ASC LIMIT 21")
    );
    let mut params = event_params();
    params.extend([text("nop.noise.alert"), text("$.correlationid"), text("c-42")]);
    assert_eq!(got.params, params);
    assert_eq!(got.limit, 20);
}

#[test]
fn summarize_count_by_type_over_the_last_hour_ordered_and_taken() {
    let got = sql("events | where time > ago(1h) | summarize count() by type | order by count_ desc | take 5");
    assert_eq!(
        got.text,
        "SELECT type AS c0, count(*) AS c1 FROM events WHERE (coalesce(CAST(round(unixepoch(json ->> '$.time', 'subsec') * 1000) AS INTEGER), stored_ms) > ?) \
         GROUP BY c0 ORDER BY c1 DESC LIMIT 6"
    );
    assert_eq!(got.params, vec![Param::Integer(NOW - 3_600_000)]);
    assert_eq!(got.columns, vec![("type".into(), Output::Plain), ("count_".into(), Output::Plain)]);
}

#[test]
fn a_named_count_by_a_payload_member_and_an_attribute() {
    let got = sql("events | summarize alerts = count() by data.sensor, subject | sort by alerts asc");
    assert_eq!(
        got.text,
        "SELECT (json -> ?) AS c0, (json -> ?) AS c1, count(*) AS c2 FROM events GROUP BY c0, c1 ORDER BY c2 ASC LIMIT 10001"
    );
    assert_eq!(got.params, vec![text("$.data.sensor"), text("$.subject")]);
    assert_eq!(got.columns[2], ("alerts".into(), Output::Plain));
}

#[test]
fn project_and_payload_comparisons_and_kql_string_operators() {
    let got = sql(
        r#"events | where data.db >= 70.5 and (source startswith "/sim" or subject !contains "50%_x") and id !in ("a", "b")
           | project position, data.db | top 3 by data.db"#,
    );
    assert_eq!(
        got.text,
        "SELECT seq AS c0, (json -> ?) AS c1 FROM events WHERE ((((json ->> ?) >= ?) AND ((coalesce(source, '') LIKE ? ESCAPE '\\') \
         OR (coalesce((json ->> ?), '') NOT LIKE ? ESCAPE '\\'))) AND (id NOT IN (?, ?))) ORDER BY (json ->> ?) DESC, seq ASC LIMIT 4"
    );
    assert_eq!(
        got.params,
        vec![
            text("$.data.db"),
            text("$.data.db"),
            Param::Real(70.5),
            text("/sim%"),
            text("$.subject"),
            text("%50\\%\\_x%"),
            text("a"),
            text("b"),
            text("$.data.db"),
        ]
    );
}

#[test]
fn not_equal_is_true_where_the_attribute_is_missing_and_case_blind_equality() {
    let got = sql(r#"events | where subject != "s-1" | where type =~ "NOP.Noise.Alert" | project id"#);
    assert_eq!(
        got.text,
        "SELECT id AS c0 FROM events WHERE (((json ->> ?) IS NOT ?) AND (lower(type) = lower(?))) ORDER BY seq ASC LIMIT 10001"
    );
    assert_eq!(got.params, vec![text("$.subject"), text("s-1"), text("NOP.Noise.Alert")]);
}

#[test]
fn positions_times_emptiness_and_negation() {
    let got = sql(
        r#"events | where position > "1733000000000-41" and time < datetime(2025-11-24T16:00:00.5+01:00)
           and isnotempty(correlationid) and not(isempty(subject)) | project position"#,
    );
    assert_eq!(
        got.text,
        "SELECT seq AS c0 FROM events WHERE ((((seq > ?) AND (coalesce(CAST(round(unixepoch(json ->> '$.time', 'subsec') * 1000) AS INTEGER), stored_ms) < ?)) \
         AND (coalesce((json ->> ?), '') <> '')) AND (NOT (coalesce((json ->> ?), '') = ''))) ORDER BY seq ASC LIMIT 10001"
    );
    // 2025-11-24T15:00:00.5Z
    assert_eq!(
        got.params,
        vec![Param::Integer(41), Param::Integer(1_763_996_400_500), text("$.correlationid"), text("$.subject")]
    );
}

#[test]
fn a_token_holder_reads_only_the_types_it_may_subscribe_to() {
    let query = parse("events | summarize count() by type", NOW).unwrap();
    let got = compile(&query, EPOCH, Some(&["nop.noise.alert".to_owned()])).unwrap();
    assert_eq!(
        got.text,
        "SELECT type AS c0, count(*) AS c1 FROM events WHERE type IN (?) GROUP BY c0 LIMIT 10001"
    );
    let none = compile(&query, EPOCH, Some(&[])).unwrap();
    assert!(none.text.contains("WHERE 0"), "{}", none.text);
}

#[test]
fn nothing_written_in_the_query_reaches_the_sql_text() {
    let hostile = r#"events | where data.x == "'); DROP TABLE events; --" | project data.y"#;
    let got = sql(hostile);
    assert!(!got.text.contains("DROP"), "{}", got.text);
    assert!(!got.text.contains("data.y"), "{}", got.text);
    assert!(error("events | project data.y'); DROP TABLE events; --").contains("is not closed"));
    assert!(error(r#"events | project data.a-b"#).contains("unexpected character `-`"));
}

#[test]
fn what_the_subset_does_not_take_is_a_clear_error() {
    for (kql, says) in [
        ("", "the query is empty"),
        ("Events", "unknown table `Events`"),
        ("events | extend x = 1", "`extend` is not in herald's subset"),
        ("events | take 10 | where type == \"a\"", "`where` cannot come here"),
        ("events | summarize count() | summarize count()", "`summarize` cannot come here"),
        ("events | project id | summarize count()", "`summarize` cannot come here"),
        ("events | summarize avg(data.db)", "`avg()` is not in herald's subset"),
        ("events | where type = \"a\"", "write `==`"),
        ("events | where type has \"a-b\"", "a term is ASCII letters and digits"),
        ("events | where type contains_cs \"a\"", "`contains_cs` is not an operator"),
        ("events | where time > \"2026-01-01\"", "compared with ago"),
        ("events | where data.db > ago(1h)", "compare with `time` or `stored`"),
        ("events | where time > ago(1w)", "unit is one of d, h, m, s, ms"),
        ("events | where time > ago(5)", "takes a timespan"),
        ("events | where time > datetime(yesterday)", "write a date"),
        ("events | where position > 5", "position in quotes"),
        ("events | where position > \"5\"", "is not a position"),
        ("events | where position > \"1-5\"", "another history"),
        ("events | where type == \"a", "is not closed"),
        ("events | where Type == \"a\"", "unknown column `Type`"),
        ("events | project data..x", "a member of data is named"),
        ("events | take 10001", "at most 10000 rows"),
        ("events | take ten", "expected a number of rows"),
        ("events | order type", "expected `by`"),
        ("events | project id | order by type", "no such column in the answer"),
        ("events | summarize count() by type | order by id", "no such column in the answer"),
        ("events | summarize type = count() by type", "names both"),
        ("events | where type == \"a\" extra", "expected `|` or the end of the query, found `extra`"),
        ("events take 5", "expected `|` or the end"),
        ("events | where (type == \"a\"", "to close `(`"),
        ("events | where type == \"\\q\"", "unknown escape"),
        ("events | where type ~ \"a\"", "unexpected character `~`"),
    ] {
        let got = error(kql);
        assert!(got.contains(says), "{kql:?}: {got:?} does not say {says:?}");
    }
    assert!(error(&"events | take 1 ".repeat(400)).contains("longer than 4096 bytes"));
}

#[test]
fn nesting_and_comparisons_are_bounded_with_a_clear_error() {
    let nested = |open: &str, n: usize| format!("events | where {}type == \"a\"{}", open.repeat(n), ")".repeat(n));
    // 32 levels are a query; one more, or a thousand (which once overflowed the stack),
    // are an error that says so
    sql(&nested("(", 32));
    sql(&nested("not(", 32));
    for kql in [nested("(", 33), nested("not(", 33), nested("(", 1300), nested("not(", 700)] {
        assert!(error(&kql).contains("nest at most 32 deep"), "{}", error(&kql));
    }
    let ors = |n: usize| format!("events | where {}type == \"b\"", "type == \"a\" or ".repeat(n - 1));
    sql(&ors(256));
    assert!(error(&ors(257)).contains("at most 256 comparisons"));
    let wheres = |n: usize| format!("events{}", "|where id==1".repeat(n));
    sql(&wheres(256));
    assert!(error(&wheres(257)).contains("at most 256 comparisons"));
}

#[test]
fn an_unclosed_parenthesis_says_what_it_opened() {
    assert!(error("events | where (type == \"a\"").contains("to close `(`"), "{}", error("events | where (type == \"a\""));
    assert!(error("events | where not(type == \"a\"").contains("to close `not(`"));
}

#[test]
fn datetimes_read_as_rfc_3339_and_as_dates() {
    assert_eq!(instant_of("1970-01-01"), Ok(0));
    assert_eq!(instant_of("2026-12-01T10:00:00Z"), Ok(1_796_119_200_000));
    assert_eq!(instant_of("2026-12-01 10:00:00.25-02:30"), Ok(1_796_119_200_250 + 9_000_000));
    assert_eq!(instant_of("2000-02-29T00:00"), Ok(951_782_400_000));
    assert!(instant_of("2026-13-01").is_err());
    assert!(instant_of("2026-12-01T10:00:00+0100").is_err());
}

#[test]
fn has_matches_a_whole_term_ignoring_case() {
    let got = sql(r#"events | where subject has "Road" and source !has "sim" | project id"#);
    assert_eq!(
        got.text,
        "SELECT id AS c0 FROM events WHERE ((lower(' ' || coalesce((json ->> ?), '') || ' ') GLOB ?) \
         AND (lower(' ' || coalesce(source, '') || ' ') NOT GLOB ?)) ORDER BY seq ASC LIMIT 10001"
    );
    assert_eq!(got.params, vec![text("$.subject"), text("*[^a-z0-9]road[^a-z0-9]*"), text("*[^a-z0-9]sim[^a-z0-9]*")]);
}
