//! `herald-fuzz`: mutation fuzzing of herald's parsers of untrusted input and frame
//! writers (run by `cargo xtask fuzz`).
//!
//! Each target starts from its committed corpus (`fuzz/corpus/<target>/`), mutates inputs
//! (bit flips, random and interesting bytes, insertions, deletions, duplicated ranges,
//! dictionary tokens, splices of two inputs) and runs the target on each, catching
//! panics. A target checks properties beyond "no panic" where it has them (a frame's
//! shape, round trips, two readers agreeing). It is not coverage-guided: as a cheap
//! stand-in, an input whose outcome (its error's text, digits dropped, or its kind of
//! success) was not seen before joins the working corpus, and `--save` writes those to
//! the corpus folder.
//!
//! ```text
//! herald-fuzz [--execs N] [--save] [TARGET…]
//! ```
//!
//! (`--save` keeps up to 200 new inputs per target.)
//!
//! It prints one line per target (executions, crashes, corpus size, distinct outcomes)
//! and exits non-zero on any crash, saving the input under `fuzz/artifacts/<target>/`.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

use herald_protocol::{CloudEvent, Position, TopicPattern};

/// A target: the input's outcome as a short signature, or `Err` when a property broke.
type Target = fn(&[u8]) -> Result<String, String>;

const TARGETS: [(&str, Target); 10] = [
    ("structured", structured),
    ("batch", batch),
    ("binary", binary),
    ("broker", broker),
    ("envelope", envelope),
    ("topic", topic),
    ("position", position),
    ("frames", frames),
    ("eventgrid", eventgrid),
    ("query", query),
];

/// Tokens the mutator inserts: the grammar's and the protocol's words.
const DICTIONARY: &[&str] = &[
    "{", "}", "[", "]", ",", ":", "\"", "\\", "\\u0000", "\\ud800", "\\u00e9", "null", "true", "false", "0", "-1",
    "1e9", "2147483648", "1.5", "\"specversion\":\"1.0\"", "\"id\":", "\"source\":", "\"type\":", "\"data\":",
    "\"data_base64\":", "\"time\":", "\"subject\":", "\"datacontenttype\":", "\"dataversion\":", "\"sequence\":",
    "\"correlationid\":", "application/json", "text/plain", "2026-12-01T10:00:00Z", ">", "*", ".", "..", "-", "%",
    "%00", "%C3%A9", "\n", "\r", "\u{85}", "\u{fffe}", "ce-", "ce_", "cloudEvents:", "\"eventType\":",
    "\"eventTime\":", "\"dataVersion\":", "\"topic\":", "events", " | ", "where ", "project ", "summarize ",
    "count()", " by ", "order by ", "take ", "top ", " and ", " or ", "not(", "==", "!=", "=~", " has ", " contains ",
    " startswith ", " in (", "ago(1h)", "datetime(", "now()", "data.", "'", "//", "isempty(", "asc", "desc",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(input: &mut Vec<u8>, other: &[u8], rng: &mut Rng) {
    for _ in 0..1 + rng.below(4) {
        let len = input.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = [0, 0x7f, 0x80, 0xff, b'"', b'\\', b'{', b'}'][rng.below(8)];
            }
            2 => {
                let i = rng.below(len + 1);
                input.insert(i, rng.next() as u8);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(16));
                input.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(32));
                let copy: Vec<u8> = input[i..i + n].to_vec();
                let at = rng.below(input.len() + 1);
                input.splice(at..at, copy);
            }
            5 | 6 => {
                let token = DICTIONARY[rng.below(DICTIONARY.len())].as_bytes();
                let at = rng.below(len + 1);
                input.splice(at..at, token.iter().copied());
            }
            7 if !other.is_empty() => {
                let cut = rng.below(len + 1);
                let from = rng.below(other.len());
                input.truncate(cut);
                input.extend_from_slice(&other[from..]);
            }
            _ => {
                if len > 1 {
                    input.truncate(rng.below(len));
                }
            }
        }
    }
    input.truncate(64 * 1024);
}

/// An outcome's signature: its text without what it quotes of the input (between
/// backticks or double quotes) and without digits, at most 60 characters.
fn signature(outcome: Result<String, String>) -> String {
    let text = match outcome {
        Ok(kind) => format!("ok {kind}"),
        Err(error) => format!("err {error}"),
    };
    let mut out = String::new();
    let mut quoted = None;
    for c in text.chars() {
        match quoted {
            Some(end) if c == end => quoted = None,
            Some(_) => {}
            None if c == '`' || c == '"' => quoted = Some(c),
            None if !c.is_ascii_digit() => out.push(c),
            None => {}
        }
        if out.len() >= 60 {
            break;
        }
    }
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What a parse result says, as an outcome for [`signature`].
fn outcome<T>(result: Result<T, impl ToString>) -> Result<String, String> {
    match result {
        Ok(_) => Ok(String::new()),
        Err(e) => Ok(format!("refused: {}", e.to_string())),
    }
}

fn structured(input: &[u8]) -> Result<String, String> {
    match CloudEvent::from_json(input) {
        // a valid event writes out as JSON that reads back as the same event
        Ok(event) => {
            let json = serde_json::to_string(&event).map_err(|e| e.to_string())?;
            let again = CloudEvent::from_json(json.as_bytes()).map_err(|e| format!("round trip: {e}: {json}"))?;
            if again != event {
                return Err(format!("round trip changed the event: {json}"));
            }
            Ok("valid".into())
        }
        Err(e) => Ok(format!("refused: {e}")),
    }
}

fn batch(input: &[u8]) -> Result<String, String> {
    outcome(herald_server::fuzz::batch(input))
}

/// Lines `name: value`, then a blank line, then the body; the first header named
/// `content-type` is the Content-Type.
fn split_headers(input: &[u8]) -> (Vec<(Vec<u8>, Vec<u8>)>, Option<String>, Vec<u8>) {
    let text = input;
    let end = text.windows(2).position(|w| w == b"\n\n").unwrap_or(text.len());
    let (head, body) = (&text[..end], text.get(end + 2..).unwrap_or(&[]));
    let mut headers = Vec::new();
    let mut content_type = None;
    for line in head.split(|b| *b == b'\n') {
        if let Some(colon) = line.iter().position(|b| *b == b':') {
            let (name, value) = (&line[..colon], line[colon + 1..].strip_prefix(b" ").unwrap_or(&line[colon + 1..]));
            if name.eq_ignore_ascii_case(b"content-type") {
                content_type = Some(text_of(value));
            } else {
                headers.push((name.to_vec(), value.to_vec()));
            }
        }
    }
    (headers, content_type, body.to_vec())
}

fn text_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn binary(input: &[u8]) -> Result<String, String> {
    let (headers, content_type, body) = split_headers(input);
    outcome(herald_server::fuzz::binary(&headers, content_type.as_deref(), &body))
}

fn broker(input: &[u8]) -> Result<String, String> {
    let (headers, content_type, body) = split_headers(input);
    let headers: Vec<(String, String)> = headers.iter().map(|(n, v)| (text_of(n), text_of(v))).collect();
    let amqp = input.first().is_some_and(|b| b % 2 == 0);
    outcome(herald_server::fuzz::broker(amqp, &headers, content_type, &body, Some("nop.noise.reading".into())))
}

/// The bus's envelope reader (the browser's hot path) against its serde reader: they
/// read the same rules, so they accept the same envelopes.
fn envelope(input: &[u8]) -> Result<String, String> {
    let Ok(text) = std::str::from_utf8(input) else { return Ok("not UTF-8".into()) };
    fn checked(e: CloudEvent<herald_bus::json::RawJson<'_>>) -> Result<CloudEvent<herald_bus::json::RawJson<'_>>, String> {
        e.validate().map(|()| e).map_err(|e| e.to_string())
    }
    let fast = herald_bus::json::envelope(text).map_err(|e| e.to_string()).and_then(checked);
    let serde = herald_bus::json::from_str::<CloudEvent<herald_bus::json::RawJson<'_>>>(text)
        .map_err(|e| e.to_string())
        .and_then(checked);
    match (&fast, &serde) {
        (Ok(a), Ok(b)) if a.id != b.id || a.ty != b.ty || a.source != b.source => {
            Err(format!("the readers read different events from {text:?}"))
        }
        (Ok(_), Err(e)) => Err(format!("envelope accepts what serde refuses ({e}): {text:?}")),
        (Err(e), Ok(_)) => Err(format!("envelope refuses what serde accepts ({e}): {text:?}")),
        (Ok(_), Ok(_)) => Ok("valid".into()),
        (Err(e), Err(_)) => Ok(format!("refused: {e}")),
    }
}

fn topic(input: &[u8]) -> Result<String, String> {
    let text = text(input);
    let (pattern, topic) = text.split_once('\n').unwrap_or((&text, "nop.noise.reading"));
    match pattern.parse::<TopicPattern>() {
        Ok(p) => {
            let again: TopicPattern = p.to_string().parse().map_err(|e| format!("round trip of {pattern:?}: {e}"))?;
            if again != p {
                return Err(format!("round trip changed {pattern:?}"));
            }
            let _ = p.matches(topic);
            if let Ok(other) = topic.parse::<TopicPattern>() {
                // a pattern covers itself; covering implies matching what the other matches
                if !p.covers(&p) {
                    return Err(format!("{pattern:?} does not cover itself"));
                }
                if p.covers(&other) && other.matches(topic) && !p.matches(topic) {
                    return Err(format!("{pattern:?} covers {topic:?} but does not match it"));
                }
            }
            Ok(format!("valid {}", p.matches(topic)))
        }
        Err(e) => Ok(format!("refused: {e}")),
    }
}

fn position(input: &[u8]) -> Result<String, String> {
    let text = text(input);
    match text.parse::<Position>() {
        Ok(p) => {
            let again: Position = p.to_string().parse().map_err(|e| format!("round trip of {text:?}: {e}"))?;
            if again != p {
                return Err(format!("round trip changed {text:?}"));
            }
            Ok("valid".into())
        }
        Err(e) => Ok(format!("refused: {e}")),
    }
}

/// Every valid event's SSE frame is one `id:` line, one `data:` line of JSON that reads
/// back as the event, and the blank line; its WebSocket message is the event's JSON with
/// `heraldposition` added. Nothing in an event can forge another frame: the input is put
/// into the attributes (and the data) of an event, and the frames are checked.
fn frames(input: &[u8]) -> Result<String, String> {
    let text = String::from_utf8_lossy(input).into_owned();
    let mut event = CloudEvent::new(format!("id-{text}"), format!("/s/{}", text.replace(char::is_whitespace, "")), "nop.noise.reading")
        .with_data(serde_json::json!({ "text": text }));
    if !text.is_empty() {
        event.subject = Some(text.clone());
        event.correlationid = Some(text.clone());
    }
    if let Err(e) = event.validate() {
        return Ok(format!("refused: {e}"));
    }
    let position = Position::new(1796000000000, input.len() as u64);
    let (sse, ws) = herald_server::fuzz::frames(event.clone(), position);
    let sse = std::str::from_utf8(&sse).map_err(|e| e.to_string())?;
    let body = sse.strip_suffix("\n\n").ok_or("an SSE frame ends with a blank line")?;
    let lines: Vec<&str> = body.split('\n').collect();
    if lines.len() != 2 || lines[0] != format!("id: {position}") || !lines[1].starts_with("data: ") || body.contains('\r') {
        return Err(format!("an SSE frame of another shape: {sse:?}"));
    }
    let back = CloudEvent::from_json(lines[1]["data: ".len()..].as_bytes()).map_err(|e| format!("SSE data: {e}"))?;
    if back != event {
        return Err("the SSE frame's event differs".into());
    }
    let value: serde_json::Value = serde_json::from_str(&ws).map_err(|e| format!("WebSocket message: {e}: {ws}"))?;
    if value["heraldposition"] != position.to_string() || value["subject"] != serde_json::json!(event.subject) {
        return Err(format!("the WebSocket message lacks its position or subject: {ws}"));
    }
    Ok("framed".into())
}

fn eventgrid(input: &[u8]) -> Result<String, String> {
    match serde_json::from_slice::<serde_json::Value>(input) {
        Ok(value) => outcome(herald_server::from_event_grid(&value, "urn:herald:eventgrid:fuzz")),
        Err(_) => Ok("not JSON".into()),
    }
}

/// A KQL query (`GET /events/query`): parsed and compiled, or refused; what compiles has
/// one bound parameter per `?`, nothing of the query in its text (no quote but the fixed
/// ones), and runs on SQLite without an error.
fn query(input: &[u8]) -> Result<String, String> {
    use herald_server::query::{compile, parse};
    use herald_server::store::{Answer, EventStore, SqliteStore};
    thread_local! {
        static STORE: SqliteStore = SqliteStore::in_memory().expect("an in-memory store");
    }
    let text = text(input);
    let Ok(parsed) = parse(&text, 1_764_000_000_000) else {
        return Ok(format!("refused: {}", parse(&text, 0).err().map(|e| e.to_string()).unwrap_or_default()));
    };
    let sql = match compile(&parsed, 1_733_000_000_000, Some(&["nop.noise.alert".to_owned()])) {
        Ok(sql) => sql,
        Err(e) => return Ok(format!("refused: {e}")),
    };
    let placeholders = sql.text.matches('?').count();
    if placeholders != sql.params.len() {
        return Err(format!("{placeholders} placeholders, {} parameters: {}", sql.params.len(), sql.text));
    }
    let mut rest = sql.text.clone();
    for fixed in ["'$.time'", "'subsec'", "''", "'\\'", "' '"] {
        rest = rest.replace(fixed, "");
    }
    if rest.contains('\'') {
        return Err(format!("a quote the compiler did not write: {}", sql.text));
    }
    match STORE.with(|store| store.query(&sql)) {
        Ok(Answer::Done(rows)) if rows.len() as u64 <= sql.limit + 1 => Ok("ran".into()),
        Ok(Answer::Done(rows)) => Err(format!("{} rows over the limit {}", rows.len(), sql.limit)),
        Ok(other) => Err(format!("the store answered {other:?}")),
        Err(e) => Err(format!("compiled SQL that does not run ({e}): {}", sql.text)),
    }
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target)
}

fn load(target: &str) -> Vec<Vec<u8>> {
    let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(corpus_dir(target))
        .map(|dir| dir.filter_map(Result::ok).filter_map(|e| std::fs::read(e.path()).ok()).collect())
        .unwrap_or_default();
    if inputs.is_empty() {
        inputs.push(Vec::new());
    }
    inputs
}

struct Report {
    executions: u64,
    crashes: u64,
    corpus: usize,
    outcomes: usize,
    seconds: f64,
}

fn run(name: &str, target: Target, executions: u64, save: bool, seed: u64) -> Report {
    let started = Instant::now();
    let mut corpus = load(name);
    let seeds = corpus.len();
    let mut seen: HashSet<String> = HashSet::new();
    let mut rng = Rng(seed | 1);
    let mut crashes = 0;
    let check = |input: &[u8], corpus: &mut Vec<Vec<u8>>, seen: &mut HashSet<String>, crashes: &mut u64| {
        let result = catch_unwind(AssertUnwindSafe(|| target(input)));
        let outcome = match result {
            Ok(Ok(kind)) => Ok(kind),
            Ok(Err(property)) => Err(format!("property: {property}")),
            Err(_) => Err("panic".to_owned()),
        };
        match outcome {
            Err(why) => {
                *crashes += 1;
                let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts").join(name);
                let _ = std::fs::create_dir_all(&dir);
                let file = dir.join(format!("crash-{}", *crashes));
                let _ = std::fs::write(&file, input);
                eprintln!("herald-fuzz: {name}: {why} (input in {})", file.display());
            }
            Ok(kind) => {
                if seen.insert(signature(Ok(kind))) && corpus.len() < 4096 {
                    corpus.push(input.to_vec());
                }
            }
        }
    };
    for i in 0..seeds {
        let input = corpus[i].clone();
        check(&input, &mut corpus, &mut seen, &mut crashes);
    }
    let mut input = Vec::new();
    for _ in 0..executions {
        let a = rng.below(corpus.len());
        let b = rng.below(corpus.len());
        input.clear();
        input.extend_from_slice(&corpus[a]);
        let other = corpus[b].clone();
        mutate(&mut input, &other, &mut rng);
        let probe = input.clone();
        check(&probe, &mut corpus, &mut seen, &mut crashes);
        if crashes > 20 {
            break;
        }
    }
    if save {
        let dir = corpus_dir(name);
        let _ = std::fs::create_dir_all(&dir);
        for (i, input) in corpus.iter().enumerate().skip(seeds).take(200) {
            let _ = std::fs::write(dir.join(format!("found-{i:04}")), input);
        }
    }
    Report { executions, crashes, corpus: corpus.len(), outcomes: seen.len(), seconds: started.elapsed().as_secs_f64() }
}

fn main() -> std::process::ExitCode {
    let mut executions = 100_000u64;
    let mut save = false;
    let mut wanted = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--execs" => executions = args.next().and_then(|n| n.parse().ok()).unwrap_or(executions),
            "--save" => save = true,
            name => wanted.push(name.to_owned()),
        }
    }
    // a panic is a finding, reported once by `run`, not printed by the default hook
    std::panic::set_hook(Box::new(|_| {}));
    let mut failed = false;
    let mut passed = 0;
    let targets: Vec<_> = TARGETS.iter().filter(|(n, _)| wanted.is_empty() || wanted.iter().any(|w| w == n)).collect();
    // the targets run in parallel, one thread each
    let handles: Vec<_> = targets
        .iter()
        .enumerate()
        .map(|(i, (name, target))| {
            let (name, target) = (*name, *target);
            std::thread::spawn(move || (name, run(name, target, executions, save, 0x9e37_79b9_7f4a_7c15 ^ i as u64)))
        })
        .collect();
    println!("| target     | executions | crashes | corpus | outcomes | seconds |");
    println!("|------------|-----------:|--------:|-------:|---------:|--------:|");
    for handle in handles {
        let Ok((name, report)) = handle.join() else {
            failed = true;
            continue;
        };
        failed |= report.crashes > 0;
        passed += usize::from(report.crashes == 0);
        println!(
            "| {name:<10} | {:>10} | {:>7} | {:>6} | {:>8} | {:>7.1} |",
            report.executions, report.crashes, report.corpus, report.outcomes, report.seconds
        );
    }
    // the targets as tests, in the line `cargo xtask test` counts
    let crashed = targets.len() - passed;
    println!("test result: {}. {passed} passed; {crashed} failed", if crashed == 0 { "ok" } else { "FAILED" });
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
