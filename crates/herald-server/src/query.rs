//! `GET /events/query?q=…`: the stored events queried in a subset of KQL (Kusto Query
//! Language), compiled to one parameterised SQL statement over the embedded store
//! (docs/protocol.md §3.15).
//!
//! ```text
//! events
//! | where type == "nop.noise.alert" and time > ago(1h)
//! | summarize count() by subject
//! | order by count_ desc
//! | take 10
//! ```
//!
//! The subset: `events`, then `where` (any number), then at most one of `project` and
//! `summarize`, then `order by` / `sort by`, then `take` / `limit` (or `top N by …` for
//! the last two). Nothing of the query text is ever spliced into the SQL: every value, and
//! every JSON path, is a parameter.

use std::fmt;

use axum::extract::{Query as UrlQuery, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use herald_protocol::Position;

use crate::auth::Access;
use crate::store::{Answer, QUERY_TIME};
use crate::{AppError, AppState};

/// At most this many rows in one answer.
pub const MAX_ROWS: u64 = 10_000;

/// At most this many bytes of query text.
pub const MAX_QUERY_BYTES: usize = 4096;

/// At most this many `(` and `not(` open at once: the parser and the compiler recurse
/// once per level, and a gateway thread's stack is not the place a query may end.
pub const MAX_NESTING: usize = 32;

/// At most this many comparisons in a query's conditions, all its `where`s together
/// (SQLite's own limit on an expression's depth is 1000).
pub const MAX_CONDITIONS: usize = 256;

/// A query the subset does not take, or one that is not KQL: the message says which, and
/// where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError(pub String);

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn fail<T>(message: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError(message.into()))
}

/// A column of the `events` table.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// `position`: the event's place in the log (`EPOCH-SEQ`).
    Position,
    /// `type`, `source`, `id`: stored beside the event, indexed.
    Type,
    /// The event's `source`.
    Source,
    /// The event's `id`.
    Id,
    /// `time`: the event's `time`, or when the gateway stored it if it has none.
    Time,
    /// `stored`: when the gateway stored it.
    Stored,
    /// Any other CloudEvents attribute, by its name (`subject`, `correlationid`, …).
    Attribute(String),
    /// `data`, or a member of it (`data.db`, `data.sensor`).
    Data(Vec<String>),
}

impl Column {
    fn name(&self) -> String {
        match self {
            Column::Position => "position".into(),
            Column::Type => "type".into(),
            Column::Source => "source".into(),
            Column::Id => "id".into(),
            Column::Time => "time".into(),
            Column::Stored => "stored".into(),
            Column::Attribute(name) => name.clone(),
            Column::Data(path) if path.is_empty() => "data".into(),
            Column::Data(path) => format!("data.{}", path.join(".")),
        }
    }
}

/// A value written in the query.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `"text"` or `'text'`.
    Text(String),
    /// A whole number.
    Integer(i64),
    /// A number with a fraction or an exponent.
    Real(f64),
    /// `true`, `false`.
    Bool(bool),
    /// `ago(1h)`, `now()`, `datetime(2026-12-01T10:00:00Z)`: milliseconds since the epoch.
    Instant(i64),
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `=~`: equal, ignoring ASCII case.
    EqNoCase,
    /// `!~`
    NeNoCase,
}

/// A string operator: KQL's, which ignore ASCII case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    /// `has`: the value holds the term as a whole word (delimited by anything but ASCII
    /// letters and digits).
    Has,
    /// `contains`
    Contains,
    /// `startswith`
    StartsWith,
    /// `endswith`
    EndsWith,
}

/// A `where` condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `a and b`
    And(Box<Condition>, Box<Condition>),
    /// `a or b`
    Or(Box<Condition>, Box<Condition>),
    /// `not(a)`
    Not(Box<Condition>),
    /// `column OP value`
    Compare(Column, Compare, Literal),
    /// `column contains "x"`, and `!contains`, … (negated)
    Text(Column, Text, String, bool),
    /// `column in ("a", "b")`, and `!in` (negated)
    In(Column, Vec<Literal>, bool),
    /// `isempty(column)`, and `isnotempty` (negated)
    Empty(Column, bool),
}

/// What the query answers with.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// The events' default columns.
    Events,
    /// `project a, b`
    Project(Vec<Column>),
    /// `summarize NAME = count() by a, b`
    Summarize {
        /// The count's column name (`count_` unless named).
        name: String,
        /// The grouping columns.
        by: Vec<Column>,
    },
}

/// A sort key: a column of the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    /// The column, by its name in the answer (`count_`, `data.db`).
    pub column: String,
    /// `asc`; KQL sorts descending unless told.
    pub ascending: bool,
}

/// One query, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Every `where`, joined by `and`.
    pub filter: Option<Condition>,
    /// `project`, `summarize` or neither.
    pub shape: Shape,
    /// `order by`.
    pub order: Vec<SortKey>,
    /// `take`.
    pub take: Option<u64>,
}

// ---------------------------------------------------------------------------------------
// Lexing

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Integer(i64),
    Real(f64),
    /// A timespan: `1h`, `30m`, `1.5d`, `500ms`, in milliseconds.
    Span(i64),
    Symbol(&'static str),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Word(w) => write!(f, "`{w}`"),
            Token::Text(t) => write!(f, "the string {t:?}"),
            Token::Integer(n) => write!(f, "`{n}`"),
            Token::Real(n) => write!(f, "`{n}`"),
            Token::Span(ms) => write!(f, "a timespan of {ms} ms"),
            Token::Symbol(s) => write!(f, "`{s}`"),
        }
    }
}

const SYMBOLS: [&str; 14] = ["==", "!=", "=~", "!~", "<=", ">=", "<", ">", "=", "|", "(", ")", ",", "!"];

fn lex(text: &str) -> Result<Vec<Token>, QueryError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'/' && bytes.get(i + 1) == Some(&b'/') {
            // a comment, to the end of the line
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if c == b'"' || c == b'\'' {
            let (value, next) = string(text, i)?;
            tokens.push(Token::Text(value));
            i = next;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            let number = &text[start..i];
            let unit_start = i;
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            let unit = &text[unit_start..i];
            tokens.push(number_token(number, unit)?);
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.') {
                i += 1;
            }
            let word = &text[start..i];
            if word == "datetime" && text[i..].trim_start().starts_with('(') {
                // datetime(2026-12-01T10:00:00Z): the literal is written bare
                let open = i + text[i..].find('(').unwrap_or(0);
                let Some(close) = text[open..].find(')').map(|at| open + at) else {
                    return fail("`datetime(` is not closed");
                };
                let inner = text[open + 1..close].trim();
                let inner = inner.trim_matches(|c| c == '"' || c == '\'');
                tokens.push(Token::Word("datetime".into()));
                tokens.push(Token::Symbol("("));
                tokens.push(Token::Text(inner.to_owned()));
                tokens.push(Token::Symbol(")"));
                i = close + 1;
            } else {
                tokens.push(Token::Word(word.to_owned()));
            }
        } else if let Some(symbol) = SYMBOLS.iter().find(|s| text[i..].starts_with(**s)) {
            tokens.push(Token::Symbol(symbol));
            i += symbol.len();
        } else {
            let ch = text[i..].chars().next().unwrap_or('?');
            return fail(format!("unexpected character `{ch}` at byte {i}"));
        }
    }
    Ok(tokens)
}

/// The string literal opening at `start`, and where it ends.
fn string(text: &str, start: usize) -> Result<(String, usize), QueryError> {
    let quote = text.as_bytes()[start] as char;
    let mut value = String::new();
    let mut chars = text[start + 1..].char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            c if c == quote => return Ok((value, start + 1 + at + 1)),
            '\\' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, 't')) => value.push('\t'),
                Some((_, 'r')) => value.push('\r'),
                Some((_, c @ ('\\' | '"' | '\''))) => value.push(c),
                Some((_, c)) => return fail(format!("unknown escape `\\{c}` in a string")),
                None => break,
            },
            c => value.push(c),
        }
    }
    fail(format!("the string starting at byte {start} is not closed"))
}

fn number_token(number: &str, unit: &str) -> Result<Token, QueryError> {
    let bad = || QueryError(format!("`{number}{unit}` is not a number"));
    if unit.is_empty() {
        if number.contains('.') {
            return number.parse().map(Token::Real).map_err(|_| bad());
        }
        return number.parse().map(Token::Integer).map_err(|_| bad());
    }
    let per: f64 = match unit {
        "d" => 86_400_000.0,
        "h" => 3_600_000.0,
        "m" => 60_000.0,
        "s" => 1_000.0,
        "ms" => 1.0,
        _ => {
            return fail(format!(
                "`{number}{unit}`: a timespan's unit is one of d, h, m, s, ms"
            ))
        }
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    Ok(Token::Span((value * per).round() as i64))
}

// ---------------------------------------------------------------------------------------
// Parsing

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    now_ms: i64,
    /// The `(` and `not(` open around the condition being read.
    depth: usize,
    /// The comparisons read so far.
    conditions: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w == word)
    }

    fn is_symbol(&self, symbol: &str) -> bool {
        matches!(self.peek(), Some(Token::Symbol(s)) if *s == symbol)
    }

    fn eat_word(&mut self, word: &str) -> bool {
        let yes = self.is_word(word);
        if yes {
            self.at += 1;
        }
        yes
    }

    fn eat_symbol(&mut self, symbol: &str) -> bool {
        let yes = self.is_symbol(symbol);
        if yes {
            self.at += 1;
        }
        yes
    }

    fn expect_symbol(&mut self, symbol: &str, what: &str) -> Result<(), QueryError> {
        if self.eat_symbol(symbol) {
            return Ok(());
        }
        fail(format!("expected `{symbol}` {what}, found {}", self.found()))
    }

    fn found(&self) -> String {
        self.peek().map_or("the end of the query".into(), Token::to_string)
    }

    fn word(&mut self, what: &str) -> Result<String, QueryError> {
        match self.next() {
            Some(Token::Word(w)) => Ok(w),
            other => fail(format!(
                "expected {what}, found {}",
                other.map_or("the end of the query".into(), |t| t.to_string())
            )),
        }
    }
}

/// Parses `text` (KQL of herald's subset); `now_ms` is what `now()` and `ago()` count from.
pub fn parse(text: &str, now_ms: i64) -> Result<Query, QueryError> {
    if text.len() > MAX_QUERY_BYTES {
        return fail(format!("the query is longer than {MAX_QUERY_BYTES} bytes"));
    }
    let mut p = Parser {
        tokens: lex(text)?,
        at: 0,
        now_ms,
        depth: 0,
        conditions: 0,
    };
    match p.next() {
        Some(Token::Word(table)) if table == "events" => {}
        Some(Token::Word(table)) => {
            return fail(format!("unknown table `{table}`: the one table is `events`"))
        }
        Some(other) => return fail(format!("a query starts with the table `events`, not {other}")),
        None => return fail("the query is empty: start with the table `events`"),
    }
    let mut query = Query {
        filter: None,
        shape: Shape::Events,
        order: Vec::new(),
        take: None,
    };
    // where* (project | summarize)? (order)? (take)?, in that order
    let mut stage = 0;
    while p.eat_symbol("|") {
        let operator = p.word("an operator after `|`")?;
        let order_of = |s: &str| match s {
            "where" | "filter" => 0,
            "project" | "summarize" => 1,
            "order" | "sort" => 2,
            "take" | "limit" | "top" => 3,
            _ => 4,
        };
        let this = order_of(&operator);
        if this == 4 {
            return fail(format!(
                "`{operator}` is not in herald's subset of KQL: it takes where, project, summarize, order by, take and top"
            ));
        }
        if this < stage || (this == stage && this != 0) {
            return fail(format!(
                "`{operator}` cannot come here: herald's subset takes where, then project or summarize, then order by, then take"
            ));
        }
        stage = this;
        match operator.as_str() {
            "where" | "filter" => {
                let condition = p.condition()?;
                query.filter = Some(match query.filter.take() {
                    Some(before) => Condition::And(Box::new(before), Box::new(condition)),
                    None => condition,
                });
            }
            "project" => {
                let mut columns = vec![p.column()?];
                while p.eat_symbol(",") {
                    columns.push(p.column()?);
                }
                query.shape = Shape::Project(columns);
            }
            "summarize" => query.shape = p.summarize()?,
            "order" | "sort" => {
                if !p.eat_word("by") {
                    return fail(format!("expected `by` after `{operator}`, found {}", p.found()));
                }
                query.order = p.sort_keys()?;
            }
            "take" | "limit" => query.take = Some(p.count(&operator)?),
            _ => {
                // top N by key [asc|desc]
                query.take = Some(p.count("top")?);
                if !p.eat_word("by") {
                    return fail(format!("expected `by` after `top N`, found {}", p.found()));
                }
                query.order = p.sort_keys()?;
            }
        }
    }
    if p.peek().is_some() {
        return fail(format!("expected `|` or the end of the query, found {}", p.found()));
    }
    check_sort_keys(&query)?;
    Ok(query)
}

impl Parser {
    fn count(&mut self, operator: &str) -> Result<u64, QueryError> {
        match self.next() {
            Some(Token::Integer(n)) if n >= 0 && n as u64 <= MAX_ROWS => Ok(n as u64),
            Some(Token::Integer(n)) => fail(format!("`{operator} {n}`: at most {MAX_ROWS} rows")),
            other => fail(format!(
                "expected a number of rows after `{operator}`, found {}",
                other.map_or("the end of the query".into(), |t| t.to_string())
            )),
        }
    }

    fn sort_keys(&mut self) -> Result<Vec<SortKey>, QueryError> {
        let mut keys = Vec::new();
        loop {
            let column = self.word("a column to sort by")?;
            let ascending = if self.eat_word("asc") {
                true
            } else {
                self.eat_word("desc");
                false
            };
            keys.push(SortKey { column, ascending });
            if !self.eat_symbol(",") {
                return Ok(keys);
            }
        }
    }

    fn summarize(&mut self) -> Result<Shape, QueryError> {
        let mut name = "count_".to_owned();
        if matches!(self.tokens.get(self.at + 1), Some(Token::Symbol("="))) {
            name = self.word("a column name")?;
            self.at += 1;
            if !is_name(&name) {
                return fail(format!("`{name}` is not a column name (letters, digits and `_`)"));
            }
        }
        let aggregate = self.word("an aggregation: count()")?;
        if aggregate != "count" {
            return fail(format!("`{aggregate}()` is not in herald's subset of KQL: summarize takes count()"));
        }
        self.expect_symbol("(", "after `count`")?;
        self.expect_symbol(")", "after `count(`")?;
        let mut by = Vec::new();
        if self.eat_word("by") {
            by.push(self.column()?);
            while self.eat_symbol(",") {
                by.push(self.column()?);
            }
        }
        if by.iter().any(|c| c.name() == name) {
            return fail(format!("`{name}` names both the count and a grouping column"));
        }
        Ok(Shape::Summarize { name, by })
    }

    fn column(&mut self) -> Result<Column, QueryError> {
        let name = self.word("a column")?;
        column(&name)
    }

    fn condition(&mut self) -> Result<Condition, QueryError> {
        let mut left = self.conjunction()?;
        while self.eat_word("or") {
            let right = self.conjunction()?;
            left = Condition::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn conjunction(&mut self) -> Result<Condition, QueryError> {
        let mut left = self.atom()?;
        while self.eat_word("and") {
            let right = self.atom()?;
            left = Condition::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// A condition inside `(` … `)` or `not(` … `)`, the opening already read.
    /// The condition inside an opened `(` or `not(`, and its `)`; `closing` says what the
    /// `)` closes, for the error when it is missing.
    fn nested(&mut self, closing: &'static str) -> Result<Condition, QueryError> {
        if self.depth == MAX_NESTING {
            return fail(format!("conditions nest at most {MAX_NESTING} deep in `(` and `not(`"));
        }
        self.depth += 1;
        let inner = self.condition()?;
        self.depth -= 1;
        self.expect_symbol(")", closing)?;
        Ok(inner)
    }

    fn atom(&mut self) -> Result<Condition, QueryError> {
        if self.eat_symbol("(") {
            return self.nested("to close `(`");
        }
        if self.is_word("not") && matches!(self.tokens.get(self.at + 1), Some(Token::Symbol("("))) {
            self.at += 2;
            return Ok(Condition::Not(Box::new(self.nested("to close `not(`")?)));
        }
        if self.conditions == MAX_CONDITIONS {
            return fail(format!("a query takes at most {MAX_CONDITIONS} comparisons"));
        }
        self.conditions += 1;
        for (function, negated) in [("isempty", false), ("isnotempty", true)] {
            if self.is_word(function) && matches!(self.tokens.get(self.at + 1), Some(Token::Symbol("("))) {
                self.at += 2;
                let column = self.column()?;
                self.expect_symbol(")", &format!("to close `{function}(`"))?;
                return Ok(Condition::Empty(column, negated));
            }
        }
        let column = self.column()?;
        let negated = self.eat_symbol("!");
        if let Some(Token::Word(word)) = self.peek().cloned() {
            let text = match word.as_str() {
                "has" => Some(Text::Has),
                "contains" => Some(Text::Contains),
                "startswith" => Some(Text::StartsWith),
                "endswith" => Some(Text::EndsWith),
                "in" => None,
                _ => return fail(format!("`{word}` is not an operator of herald's subset of KQL")),
            };
            self.at += 1;
            return match text {
                Some(op) => match self.next() {
                    Some(Token::Text(value)) => Ok(Condition::Text(column, op, value, negated)),
                    other => fail(format!(
                        "`{word}` takes a string, found {}",
                        other.map_or("the end of the query".into(), |t| t.to_string())
                    )),
                },
                None => {
                    self.expect_symbol("(", "after `in`")?;
                    let mut values = vec![self.literal()?];
                    while self.eat_symbol(",") {
                        values.push(self.literal()?);
                    }
                    self.expect_symbol(")", "to close `in (`")?;
                    Ok(Condition::In(column, values, negated))
                }
            };
        }
        if negated {
            return fail(format!("expected `has`, `contains`, `startswith`, `endswith` or `in` after `!`, found {}", self.found()));
        }
        let compare = match self.next() {
            Some(Token::Symbol("==")) => Compare::Eq,
            Some(Token::Symbol("!=")) => Compare::Ne,
            Some(Token::Symbol("<")) => Compare::Lt,
            Some(Token::Symbol("<=")) => Compare::Le,
            Some(Token::Symbol(">")) => Compare::Gt,
            Some(Token::Symbol(">=")) => Compare::Ge,
            Some(Token::Symbol("=~")) => Compare::EqNoCase,
            Some(Token::Symbol("!~")) => Compare::NeNoCase,
            Some(Token::Symbol("=")) => return fail("`=` is not a comparison: write `==`"),
            other => {
                return fail(format!(
                    "expected a comparison after `{}`, found {}",
                    column.name(),
                    other.map_or("the end of the query".into(), |t| t.to_string())
                ))
            }
        };
        let value = self.literal()?;
        check_comparison(&column, compare, &value)?;
        Ok(Condition::Compare(column, compare, value))
    }

    fn literal(&mut self) -> Result<Literal, QueryError> {
        match self.next() {
            Some(Token::Text(t)) => Ok(Literal::Text(t)),
            Some(Token::Integer(n)) => Ok(Literal::Integer(n)),
            Some(Token::Real(n)) => Ok(Literal::Real(n)),
            Some(Token::Symbol("!")) | Some(Token::Symbol("<")) => fail("expected a value"),
            Some(Token::Word(w)) if w == "true" || w == "false" => Ok(Literal::Bool(w == "true")),
            Some(Token::Word(w)) if w == "now" => {
                self.expect_symbol("(", "after `now`")?;
                self.expect_symbol(")", "after `now(`")?;
                Ok(Literal::Instant(self.now_ms))
            }
            Some(Token::Word(w)) if w == "ago" => {
                self.expect_symbol("(", "after `ago`")?;
                let span = match self.next() {
                    Some(Token::Span(ms)) => ms,
                    other => {
                        return fail(format!(
                            "`ago` takes a timespan such as 1h, 30m or 7d, found {}",
                            other.map_or("the end of the query".into(), |t| t.to_string())
                        ))
                    }
                };
                self.expect_symbol(")", "to close `ago(`")?;
                Ok(Literal::Instant(self.now_ms - span))
            }
            Some(Token::Word(w)) if w == "datetime" => {
                self.expect_symbol("(", "after `datetime`")?;
                let Some(Token::Text(text)) = self.next() else {
                    return fail("`datetime` takes a date such as 2026-12-01 or 2026-12-01T10:00:00Z");
                };
                self.expect_symbol(")", "to close `datetime(`")?;
                instant_of(&text).map(Literal::Instant)
            }
            Some(Token::Span(_)) => fail("a timespan stands alone only inside `ago(…)`"),
            other => fail(format!(
                "expected a value (a string, a number, true, false, ago(…), now() or datetime(…)), found {}",
                other.map_or("the end of the query".into(), |t| t.to_string())
            )),
        }
    }
}

fn is_name(name: &str) -> bool {
    name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The column `name` names.
fn column(name: &str) -> Result<Column, QueryError> {
    Ok(match name {
        "position" => Column::Position,
        "type" => Column::Type,
        "source" => Column::Source,
        "id" => Column::Id,
        "time" => Column::Time,
        "stored" => Column::Stored,
        "data" => Column::Data(Vec::new()),
        _ if name.starts_with("data.") => {
            let path: Vec<String> = name["data.".len()..].split('.').map(str::to_owned).collect();
            if path.iter().any(|segment| !is_name(segment)) {
                return fail(format!("`{name}`: a member of data is named by letters, digits and `_`, joined by `.`"));
            }
            Column::Data(path)
        }
        // a CloudEvents attribute: lower-case letters and digits
        _ if !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) => {
            Column::Attribute(name.to_owned())
        }
        _ => {
            return fail(format!(
                "unknown column `{name}`: the columns are position, type, source, id, time, stored, \
                 any other CloudEvents attribute by its name, data and data.MEMBER"
            ))
        }
    })
}

fn check_comparison(column: &Column, compare: Compare, value: &Literal) -> Result<(), QueryError> {
    let timed = matches!(column, Column::Time | Column::Stored);
    let instant = matches!(value, Literal::Instant(_));
    if timed != instant {
        return fail(if timed {
            format!("`{}` is compared with ago(…), now() or datetime(…)", column.name())
        } else {
            format!("ago(…), now() and datetime(…) compare with `time` or `stored`, not `{}`", column.name())
        });
    }
    if matches!(column, Column::Position) && !matches!(value, Literal::Text(_)) {
        return fail("`position` is compared with a position in quotes, such as \"1733000000000-42\"");
    }
    if matches!(compare, Compare::EqNoCase | Compare::NeNoCase) && !matches!(value, Literal::Text(_)) {
        return fail("`=~` and `!~` compare with a string");
    }
    Ok(())
}

/// Every sort key names a column of the answer.
fn check_sort_keys(query: &Query) -> Result<(), QueryError> {
    for key in &query.order {
        let known = match &query.shape {
            Shape::Summarize { name, by } => *name == key.column || by.iter().any(|c| c.name() == key.column),
            Shape::Project(columns) => columns.iter().any(|c| c.name() == key.column),
            Shape::Events => column(&key.column).is_ok(),
        };
        if !known {
            return fail(format!("`order by {}`: no such column in the answer", key.column));
        }
    }
    Ok(())
}

/// `2026-12-01`, `2026-12-01T10:00:00Z`, `2026-12-01 10:00:00.5+01:00` as milliseconds
/// since the epoch.
fn instant_of(text: &str) -> Result<i64, QueryError> {
    let bad = || QueryError(format!("`datetime({text})`: write a date such as 2026-12-01 or 2026-12-01T10:00:00Z"));
    let b = text.as_bytes();
    let digits = |from: usize, to: usize| -> Option<i64> {
        let part = b.get(from..to)?;
        part.iter().all(u8::is_ascii_digit).then(|| part.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let (year, month, day) = (digits(0, 4).ok_or_else(bad)?, digits(5, 7).ok_or_else(bad)?, digits(8, 10).ok_or_else(bad)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    let mut ms = herald_protocol::days_from_civil(year, month as u32, day as u32) * 86_400_000;
    if b.len() == 10 {
        return Ok(ms);
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(13) != Some(&b':') {
        return Err(bad());
    }
    let (hour, minute) = (digits(11, 13).ok_or_else(bad)?, digits(14, 16).ok_or_else(bad)?);
    let mut i = 16;
    let mut second = 0;
    if b.get(16) == Some(&b':') {
        second = digits(17, 19).ok_or_else(bad)?;
        i = 19;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err(bad());
    }
    ms += ((hour * 60 + minute) * 60 + second) * 1000;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let fraction = &text[start..i];
        if fraction.is_empty() {
            return Err(bad());
        }
        let padded: String = fraction.chars().chain("000".chars()).take(3).collect();
        ms += padded.parse::<i64>().map_err(|_| bad())?;
    }
    match &text[i..] {
        "" | "Z" | "z" => Ok(ms),
        offset => {
            let o = offset.as_bytes();
            let sign = match o.first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return Err(bad()),
            };
            if o.len() != 6 || o[3] != b':' {
                return Err(bad());
            }
            let hours = offset[1..3].parse::<i64>().map_err(|_| bad())?;
            let minutes = offset[4..6].parse::<i64>().map_err(|_| bad())?;
            Ok(ms - sign * (hours * 60 + minutes) * 60_000)
        }
    }
}

// ---------------------------------------------------------------------------------------
// SQL

/// A value bound to a `?` of the statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// Text.
    Text(String),
    /// An integer.
    Integer(i64),
    /// A real number.
    Real(f64),
}

/// How a column of the statement's result becomes JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The sequence number, written as the position `EPOCH-SEQ`.
    Position,
    /// JSON text (SQLite's `->`), parsed.
    Json,
    /// Milliseconds since the epoch, written as RFC 3339.
    Millis,
    /// The SQL value as it is (text or integer).
    Plain,
}

/// One SQL statement, its parameters, and the answer's columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Sql {
    /// The statement: SQLite, over `events (seq, source, id, type, stored_ms, json)`.
    pub text: String,
    /// Bound to its `?`s in order.
    pub params: Vec<Param>,
    /// The answer's column names, and how each becomes JSON.
    pub columns: Vec<(String, Output)>,
    /// The row limit asked for (one more row is fetched, to tell a cut answer).
    pub limit: u64,
}

struct Builder {
    params: Vec<Param>,
    epoch: u64,
}

impl Builder {
    fn bind(&mut self, param: Param) -> &'static str {
        self.params.push(param);
        "?"
    }

    /// The SQL expression of `column`, as a value to compare.
    fn value(&mut self, column: &Column) -> String {
        match column {
            Column::Position => "seq".into(),
            Column::Type => "type".into(),
            Column::Source => "source".into(),
            Column::Id => "id".into(),
            Column::Time => TIME_MS.into(),
            Column::Stored => "stored_ms".into(),
            Column::Attribute(name) => format!("(json ->> {})", self.bind(Param::Text(format!("$.{name}")))),
            Column::Data(path) => format!("(json ->> {})", self.bind(Param::Text(json_path(path)))),
        }
    }

    /// The SQL expression of `column` as the answer shows it.
    fn shown(&mut self, column: &Column) -> (String, Output) {
        match column {
            Column::Position => ("seq".into(), Output::Position),
            Column::Type | Column::Source | Column::Id => (self.value(column), Output::Plain),
            Column::Time => (TIME_MS.into(), Output::Millis),
            Column::Stored => ("stored_ms".into(), Output::Millis),
            Column::Attribute(name) => (format!("(json -> {})", self.bind(Param::Text(format!("$.{name}")))), Output::Json),
            Column::Data(path) => (format!("(json -> {})", self.bind(Param::Text(json_path(path)))), Output::Json),
        }
    }

    fn literal(&mut self, value: &Literal) -> Result<&'static str, QueryError> {
        Ok(self.bind(match value {
            Literal::Text(t) => Param::Text(t.clone()),
            Literal::Integer(n) => Param::Integer(*n),
            Literal::Real(n) => Param::Real(*n),
            Literal::Bool(b) => Param::Integer(i64::from(*b)),
            Literal::Instant(ms) => Param::Integer(*ms),
        }))
    }

    fn condition(&mut self, condition: &Condition) -> Result<String, QueryError> {
        Ok(match condition {
            Condition::And(a, b) => format!("({} AND {})", self.condition(a)?, self.condition(b)?),
            Condition::Or(a, b) => format!("({} OR {})", self.condition(a)?, self.condition(b)?),
            Condition::Not(a) => format!("(NOT {})", self.condition(a)?),
            Condition::Compare(Column::Position, compare, Literal::Text(text)) => {
                let position: Position = text
                    .parse()
                    .map_err(|_| QueryError(format!("`{text}` is not a position (EPOCH-SEQ)")))?;
                if position.epoch != self.epoch {
                    return fail(format!(
                        "`{text}` is a position of another history of the store (its epoch is {})",
                        self.epoch
                    ));
                }
                let op = sql_compare(*compare);
                format!("(seq {op} {})", self.bind(Param::Integer(position.seq as i64)))
            }
            Condition::Compare(column, compare, value) => {
                let left = self.value(column);
                match compare {
                    Compare::EqNoCase | Compare::NeNoCase => {
                        let op = if *compare == Compare::EqNoCase { "=" } else { "<>" };
                        format!("(lower({left}) {op} lower({}))", self.literal(value)?)
                    }
                    // KQL's `!=` is true where the value is missing, as SQL's `IS NOT` is
                    Compare::Ne => format!("({left} IS NOT {})", self.literal(value)?),
                    _ => format!("({left} {} {})", sql_compare(*compare), self.literal(value)?),
                }
            }
            Condition::Text(column, Text::Has, term, negated) => {
                if term.is_empty() || !term.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return fail(format!("`has {term:?}`: a term is ASCII letters and digits; use `contains` for other text"));
                }
                // a whole word: the lower-cased value, padded, holds the term between non-word characters
                let left = self.value(column);
                let not = if *negated { "NOT " } else { "" };
                let pattern = format!("*[^a-z0-9]{}[^a-z0-9]*", term.to_ascii_lowercase());
                format!("(lower(' ' || coalesce({left}, '') || ' ') {not}GLOB {})", self.bind(Param::Text(pattern)))
            }
            Condition::Text(column, op, value, negated) => {
                let left = self.value(column);
                let escaped = value.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
                let pattern = match op {
                    Text::Contains | Text::Has => format!("%{escaped}%"),
                    Text::StartsWith => format!("{escaped}%"),
                    Text::EndsWith => format!("%{escaped}"),
                };
                let not = if *negated { "NOT " } else { "" };
                format!("(coalesce({left}, '') {not}LIKE {} ESCAPE '\\')", self.bind(Param::Text(pattern)))
            }
            Condition::In(column, values, negated) => {
                let left = self.value(column);
                let mut list = Vec::new();
                for value in values {
                    list.push(self.literal(value)?);
                }
                let not = if *negated { "NOT " } else { "" };
                format!("({left} {not}IN ({}))", list.join(", "))
            }
            Condition::Empty(column, negated) => {
                let left = self.value(column);
                if *negated {
                    format!("(coalesce({left}, '') <> '')")
                } else {
                    format!("(coalesce({left}, '') = '')")
                }
            }
        })
    }
}

fn sql_compare(compare: Compare) -> &'static str {
    match compare {
        Compare::Eq | Compare::EqNoCase => "=",
        Compare::Ne | Compare::NeNoCase => "<>",
        Compare::Lt => "<",
        Compare::Le => "<=",
        Compare::Gt => ">",
        Compare::Ge => ">=",
    }
}

fn json_path(path: &[String]) -> String {
    let mut text = String::from("$.data");
    for segment in path {
        text.push('.');
        text.push_str(segment);
    }
    text
}

/// An event's time in milliseconds: its `time` attribute, else when it was stored.
const TIME_MS: &str = "coalesce(CAST(round(unixepoch(json ->> '$.time', 'subsec') * 1000) AS INTEGER), stored_ms)";

/// The columns an answer without `project` or `summarize` has.
const EVENT_COLUMNS: [&str; 9] = ["position", "time", "type", "source", "id", "subject", "correlationid", "causationid", "data"];

/// Compiles `query` to one SQLite statement over the store of epoch `epoch`; `types`, when
/// given, are the only event types the asker may read (its subscribe grants).
pub fn compile(query: &Query, epoch: u64, types: Option<&[String]>) -> Result<Sql, QueryError> {
    let mut b = Builder {
        params: Vec::new(),
        epoch,
    };
    let mut select = Vec::new();
    let mut columns = Vec::new();
    let mut group = Vec::new();
    match &query.shape {
        Shape::Events | Shape::Project(_) => {
            let shown: Vec<Column> = match &query.shape {
                Shape::Project(list) => list.clone(),
                _ => EVENT_COLUMNS.iter().map(|name| column(name)).collect::<Result<_, _>>()?,
            };
            for (i, c) in shown.iter().enumerate() {
                let (expression, output) = b.shown(c);
                select.push(format!("{expression} AS c{i}"));
                columns.push((c.name(), output));
            }
        }
        Shape::Summarize { name, by } => {
            for (i, c) in by.iter().enumerate() {
                let (expression, output) = b.shown(c);
                select.push(format!("{expression} AS c{i}"));
                group.push(format!("c{i}"));
                columns.push((c.name(), output));
            }
            select.push(format!("count(*) AS c{}", by.len()));
            columns.push((name.clone(), Output::Plain));
        }
    }
    let mut conditions = Vec::new();
    if let Some(filter) = &query.filter {
        conditions.push(b.condition(filter)?);
    }
    if let Some(types) = types {
        let list: Vec<&str> = types.iter().map(|t| b.bind(Param::Text(t.clone()))).collect();
        conditions.push(if list.is_empty() { "0".to_owned() } else { format!("type IN ({})", list.join(", ")) });
    }
    let mut text = format!("SELECT {} FROM events", select.join(", "));
    if !conditions.is_empty() {
        text.push_str(" WHERE ");
        text.push_str(&conditions.join(" AND "));
    }
    if !group.is_empty() {
        text.push_str(" GROUP BY ");
        text.push_str(&group.join(", "));
    }
    let mut order = Vec::new();
    for key in &query.order {
        let direction = if key.ascending { "ASC" } else { "DESC" };
        match columns.iter().position(|(name, _)| *name == key.column) {
            // JSON is sorted by its value (numbers as numbers), not by its text
            Some(at) if columns[at].1 == Output::Json => {
                let expression = b.value(&column(&key.column)?);
                order.push(format!("{expression} {direction}"));
            }
            Some(at) => order.push(format!("c{at} {direction}")),
            // an events query may sort by a column it does not show
            None => {
                let expression = b.value(&column(&key.column)?);
                order.push(format!("{expression} {direction}"));
            }
        }
    }
    if matches!(query.shape, Shape::Events | Shape::Project(_)) {
        // ties, and an unsorted answer, in log order
        order.push("seq ASC".into());
    }
    if !order.is_empty() {
        text.push_str(" ORDER BY ");
        text.push_str(&order.join(", "));
    }
    let limit = query.take.unwrap_or(MAX_ROWS);
    text.push_str(&format!(" LIMIT {}", limit + 1));
    Ok(Sql {
        text,
        params: b.params,
        columns,
        limit,
    })
}

// ---------------------------------------------------------------------------------------
// HTTP

/// The query string of `GET /events/query`.
#[derive(Debug, Deserialize)]
pub struct QueryParams {
    /// The query, KQL.
    q: Option<String>,
}

/// `GET /events/query?q=…`: `200 {"columns": [...], "rows": [[...]], "truncated": bool}`.
pub async fn get_query(
    State(state): State<AppState>,
    access: Access,
    UrlQuery(params): UrlQuery<QueryParams>,
) -> Result<Json<Value>, AppError> {
    let Some(text) = params.q.filter(|q| !q.trim().is_empty()) else {
        return Err(AppError::BadRequest("`q` is required: a query such as `events | take 10`".into()));
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let query = parse(&text, now_ms).map_err(|e| AppError::BadRequest(format!("the query: {e}")))?;
    let log = state.log.clone();
    let answer = tokio::task::spawn_blocking(move || -> Result<Value, AppError> {
        let store = log.store();
        let unsupported = || AppError::NotImplemented("queries need the embedded SQLite store (`--store` is another)".into());
        let timed_out = || {
            AppError::Busy(format!(
                "the query ran longer than {} s and was stopped: narrow it with `where` or `take`",
                QUERY_TIME.as_secs()
            ))
        };
        let types = match &access {
            Access::Open => None,
            Access::Granted(grants) => match store.types()? {
                Answer::Done(types) => Some(
                    types
                        .into_iter()
                        .filter(|ty| grants.subscribe.iter().any(|g| g.matches(ty)))
                        .collect::<Vec<_>>(),
                ),
                Answer::TimedOut => return Err(timed_out()),
                Answer::Unsupported => return Err(unsupported()),
            },
        };
        let sql = compile(&query, store.epoch(), types.as_deref()).map_err(|e| AppError::BadRequest(format!("the query: {e}")))?;
        let mut rows = match store.query(&sql)? {
            Answer::Done(rows) => rows,
            Answer::TimedOut => return Err(timed_out()),
            Answer::Unsupported => return Err(unsupported()),
        };
        let truncated = rows.len() as u64 > sql.limit;
        rows.truncate(sql.limit as usize);
        Ok(json!({
            "columns": sql.columns.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(),
            "rows": rows,
            "truncated": truncated,
        }))
    })
    .await
    .map_err(|e| AppError::Internal(format!("the query task failed: {e}")))??;
    Ok(Json(answer))
}

#[cfg(test)]
mod tests;
