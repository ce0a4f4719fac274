//! The codec against serde_json: the same values read from and written as the same text.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{from_str, to_string, RawJson};

// In the browser the same tests run the JavaScript number conversions.
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Reading {
    sensor: String,
    db: f64,
    at: u64,
    note: Option<String>,
    tags: Vec<String>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Shape {
    Unit,
    Newtype(i32),
    Tuple(u8, bool),
    Struct { x: i64 },
}

fn same_as_serde_json<T: Serialize>(value: &T) {
    let ours = to_string(value).unwrap();
    let theirs = serde_json::to_string(value).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&ours).unwrap(),
        serde_json::from_str::<Value>(&theirs).unwrap(),
        "{ours} vs {theirs}"
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn writes_what_serde_json_writes() {
    let reading = Reading {
        sensor: "s-1 \"quoted\" \\ \n\t\u{1}é😀".into(),
        db: 61.5,
        at: 1_796_000_000_000,
        note: None,
        tags: vec!["a".into(), String::new()],
    };
    assert_eq!(
        to_string(&reading).unwrap(),
        serde_json::to_string(&reading).unwrap()
    );
    for shape in [
        Shape::Unit,
        Shape::Newtype(-3),
        Shape::Tuple(7, true),
        Shape::Struct { x: i64::MIN },
    ] {
        assert_eq!(
            to_string(&shape).unwrap(),
            serde_json::to_string(&shape).unwrap()
        );
    }
    let mut keyed = BTreeMap::new();
    keyed.insert(7u32, "seven");
    keyed.insert(11u32, "eleven");
    assert_eq!(
        to_string(&keyed).unwrap(),
        serde_json::to_string(&keyed).unwrap()
    );
    for float in [
        0.0,
        -0.0,
        1.0,
        -2.5,
        0.1,
        1e-7,
        123456.789,
        1e300,
        f64::MAX,
        f64::MIN_POSITIVE,
        9007199254740993.0,
    ] {
        same_as_serde_json(&float);
    }
    // the decimals written without asking JavaScript: the same text as Rust's shortest
    // round-trip formatting (what `String(n)` writes for these), digit for digit
    let mut decimals = vec![0.001, 0.01, 0.1, 0.125, 0.2, 0.3, 0.7, 1.05, 60.25, 63.5, 99.999, 1073741823.5];
    decimals.extend((1..20_000).map(|i| f64::from(i) / 8.0 + 0.001 * f64::from(i % 7)));
    decimals.extend((1..5_000).map(|i| f64::from(i) * 0.1));
    for float in decimals {
        for value in [float, -float] {
            assert_eq!(to_string(&value).unwrap(), format!("{value:?}"), "{value}");
        }
    }
    assert_eq!(to_string(&f64::NAN).unwrap(), "null");
    assert_eq!(to_string(&u128::MAX).unwrap(), u128::MAX.to_string());
    assert_eq!(to_string(&i128::MIN).unwrap(), i128::MIN.to_string());
    assert_eq!(to_string(&'"').unwrap(), r#""\"""#);
    assert_eq!(
        to_string(&"\u{7f}\u{1f}").unwrap(),
        serde_json::to_string("\u{7f}\u{1f}").unwrap()
    );
    let value = json!({"a": [1, -2, 3.5, null, true, {"b": "c"}], "d": {}, "e": []});
    assert_eq!(
        to_string(&value).unwrap(),
        serde_json::to_string(&value).unwrap()
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn reads_what_serde_json_reads() {
    let text = r#" { "sensor" : "s-\"1\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00" , "db": -6.15e1, "at": 1796000000000,
        "note": null, "tags": ["x", "y"], "ignored": {"deep": [1, 2.5e-3, "s", false, null, {}]} } "#;
    let ours: Reading = from_str(text).unwrap();
    let theirs: Reading = serde_json::from_str(text).unwrap();
    assert_eq!(ours, theirs);
    for shape in [
        r#""Unit""#,
        r#"{"Newtype": -3}"#,
        r#"{"Tuple": [7, true]}"#,
        r#"{"Struct": {"x": -9223372036854775808}}"#,
    ] {
        assert_eq!(
            from_str::<Shape>(shape).unwrap(),
            serde_json::from_str::<Shape>(shape).unwrap()
        );
    }
    for value in [
        "0",
        "-0",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775809",
        "0.1",
        "1e22",
        "1e23",
        "123456789012345678901234567890",
        "4.9e-324",
        "2.2250738585072014e-308",
        "1.7976931348623157e308",
        "0.30000000000000004",
        "[1,[2,[3]],{\"a\":{}}]",
        "\"\"",
        "true",
    ] {
        assert_eq!(
            from_str::<Value>(value).unwrap(),
            serde_json::from_str::<Value>(value).unwrap(),
            "{value}"
        );
    }
    assert_eq!(from_str::<f64>("0.1").unwrap(), 0.1);
    assert_eq!(from_str::<f64>("2.5e-3").unwrap(), 2.5e-3);
    assert_eq!(from_str::<f64>("12345678.9").unwrap(), 12345678.9);
    assert_eq!(from_str::<Option<u8>>("null").unwrap(), None);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn refuses_what_is_not_json_with_a_position() {
    for bad in [
        "",
        "{",
        "[1,]",
        "[1 2]",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{a:1}",
        "01",
        "1.",
        "-",
        "1e",
        "+1",
        "\"\\x\"",
        "\"\u{1}\"",
        "\"\\ud800\"",
        "\"\\udc00x\"",
        "nul",
        "[1] x",
        "\"open",
        "NaN",
    ] {
        let error = from_str::<Value>(bad).expect_err(bad);
        assert!(error.to_string().contains(" at byte "), "{bad}: {error}");
        // skipped unread (raw, or a field nobody reads), it is refused all the same
        let error = from_str::<RawJson>(bad).expect_err(bad);
        assert!(
            error.to_string().contains(" at byte "),
            "raw {bad}: {error}"
        );
        let wrapped = format!(r#"{{"ignored": {bad}}}"#);
        assert!(
            from_str::<serde::de::IgnoredAny>(&wrapped).is_err(),
            "{wrapped}"
        );
    }
    let deep = "[".repeat(200) + &"]".repeat(200);
    for error in [
        from_str::<Value>(&deep).unwrap_err(),
        from_str::<RawJson>(&deep).unwrap_err(),
        from_str::<serde::de::IgnoredAny>(&deep).unwrap_err(),
    ] {
        assert!(error.to_string().contains("nests too deep"), "{error}");
    }
    // nesting up to the limit is fine either way
    let fine = "[{\"a\":".repeat(60) + "[]" + &"}]".repeat(60);
    assert!(from_str::<Value>(&fine).is_ok());
    assert_eq!(from_str::<RawJson>(&fine).unwrap().get(), fine);
    let error =
        from_str::<Reading>(r#"{"sensor": 1.5, "db": 1, "at": 1, "tags": []}"#).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("invalid type: a floating point number, expected a string"),
        "{error}"
    );
    let error = from_str::<u8>("300").unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("invalid value: integer `300`"),
        "{error}"
    );
    let error = from_str::<Reading>(r#"{"sensor": "s"}"#).unwrap_err();
    assert!(error.to_string().contains("missing field"), "{error}");
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn raw_json_passes_through_unread_and_unchanged() {
    #[derive(Serialize, Deserialize)]
    struct Envelope<'a> {
        id: String,
        #[serde(borrow)]
        data: RawJson<'a>,
    }
    let text = r#"{"id":"1","data":{"b": [1, 2.50, "x"], "a": null}}"#;
    let envelope: Envelope = from_str(text).unwrap();
    assert_eq!(envelope.data.get(), r#"{"b": [1, 2.50, "x"], "a": null}"#);
    assert_eq!(to_string(&envelope).unwrap(), text);
    assert!(from_str::<Envelope>(r#"{"id":"1","data":{"b":}}"#).is_err());
    for raw in [
        "[]",
        "{}",
        "[[],{}]",
        r#"{"a":[{"b":{}}],"c":"}"}"#,
        "-0.5e3",
        "\"\\\"\"",
        "true",
    ] {
        assert_eq!(from_str::<RawJson>(raw).unwrap().get(), raw);
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn owned_raw_json_is_checked_kept_and_written_as_it_is() {
    use super::RawJsonBuf;
    #[derive(Serialize, Deserialize)]
    struct Letter {
        reason: String,
        event: RawJsonBuf,
    }
    let text = r#"{"reason":"bad","event":{"id":"x-1","data":[1, {"n": "2"}]}}"#;
    let letter: Letter = from_str(text).unwrap();
    assert_eq!(letter.event.get(), r#"{"id":"x-1","data":[1, {"n": "2"}]}"#);
    assert_eq!(to_string(&letter).unwrap(), text);
    assert_eq!(RawJsonBuf::new(" [1, 2] ").unwrap().get(), "[1, 2]");
    assert!(RawJsonBuf::new("{\"id\":").is_err());
    let described = RawJsonBuf::string("not \"JSON\"");
    assert_eq!(described.get(), r#""not \"JSON\"""#);
    assert_eq!(from_str::<String>(described.get()).unwrap(), "not \"JSON\"");
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn envelope_reads_what_the_serde_path_reads() {
    use super::envelope;
    use herald_protocol::{CloudEvent, ExtensionValue};
    let head = r#""specversion":"1.0","id":"e-1","source":"/s","type":"t.x""#;
    let accepted = [
        format!(r#"{{{head},"data":{{"sensor":"s-1","db":61.5}}}}"#),
        format!(r#" {{ {head} , "data" : [1, "}}"] , "time":"2026-12-01T00:00:00Z" }} "#),
        format!(r#"{{{head},"data":null,"subject":null,"correlationid":"c","causationid":"k"}}"#),
        format!(r#"{{{head},"sequence":"00000000000000000042","dataversion":2}}"#),
        // a sequence or dataversion of another form is kept, as an extension
        format!(r#"{{{head},"sequence":7,"dataversion":"two"}}"#),
        format!(
            r#"{{{head},"tenant":"a\"b","n":-3,"big":18446744073709551615,"r":0.5,"ok":true,"gone":null}}"#
        ),
        format!(r#"{{"data":"first",{head}}}"#),
        format!(r#"{{{head},"id\u0031":"escaped key"}}"#),
    ];
    for text in &accepted {
        let ours = envelope(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let serde_path: CloudEvent<RawJson> = from_str(text).unwrap();
        assert_eq!(ours, serde_path, "{text}");
    }
    let event = envelope(&accepted[5]).unwrap();
    assert_eq!(
        event.extensions.get("tenant"),
        Some(&ExtensionValue::String("a\"b".into()))
    );
    assert_eq!(
        event.extensions.get("n"),
        Some(&ExtensionValue::Integer(-3))
    );
    assert_eq!(
        event.extensions.get("ok"),
        Some(&ExtensionValue::Boolean(true))
    );
    assert!(!event.extensions.contains_key("gone"));
    assert_eq!(envelope(&accepted[3]).unwrap().sequence(), Some(42));

    let refused = [
        ("[]".to_owned(), "expected a CloudEvent"),
        (
            format!(r#"{{{head},"id":"again"}}"#),
            "duplicate attribute `id`",
        ),
        (
            format!(r#"{{{head},"data":1,"data":2}}"#),
            "duplicate attribute `data`",
        ),
        (
            format!(r#"{{{head},"x":1,"x":2}}"#),
            "duplicate attribute `x`",
        ),
        (
            format!(r#"{{{head},"time":5}}"#),
            "attribute `time` must be a string",
        ),
        (
            format!(r#"{{{head},"tags":["a"]}}"#),
            "attribute `tags`: expected a string, number or boolean",
        ),
        (
            r#"{"specversion":"1.0","id":"e-1","type":"t.x"}"#.to_owned(),
            "missing attribute `source`",
        ),
        (
            format!(r#"{{{head},"data":{{"a":}}}}"#),
            "expected a JSON value",
        ),
        (format!(r#"{{{head}}} x"#), "trailing characters"),
        (format!(r#"{{{head},}}"#), "trailing comma"),
    ];
    for (text, message) in &refused {
        let ours = envelope(text).expect_err(text).to_string();
        assert!(ours.contains(message), "{text}: {ours}");
        assert!(from_str::<CloudEvent<RawJson>>(text).is_err(), "{text}");
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_plain_run_ends_at_the_first_quote_backslash_or_control_character() {
    let naive = |bytes: &[u8]| {
        bytes
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
            .unwrap_or(bytes.len())
    };
    // every stopping byte at every offset of runs of every length up to three words,
    // among bytes just beside the stopping ones and non-ASCII
    let stops = [b'"', b'\\', 0x00, 0x1f, b'\n'];
    let fillers = [b'a', b'!', b'#', b'[', b']', 0x20, 0x7f, 0x80, 0xe9, 0xff];
    for len in 0..24 {
        for filler in fillers {
            let plain = vec![filler; len];
            assert_eq!(super::plain_run(&plain), len);
            for at in 0..len {
                for stop in stops {
                    let mut bytes = plain.clone();
                    bytes[at] = stop;
                    // and a later stop, which must not hide the first
                    if at + 3 < len {
                        bytes[at + 3] = b'"';
                    }
                    assert_eq!(super::plain_run(&bytes), naive(&bytes), "{bytes:?}");
                }
            }
        }
    }
}
