//! The JSON array and JSON Lines readers. Both turn one element (a string, or an object with a
//! key field) into a record; they differ in what a syntax error means. In JSON Lines each line
//! stands alone, so a broken line is one `invalid` row and reading goes on. In an array a syntax
//! error leaves no reliable place to resume, so it is fatal — after the elements before it have
//! been yielded.
//!
//! The array is not handed to `serde_json` whole (that would hold the file in memory): a small
//! scanner cuts it into elements at top-level commas, tracking strings and nesting, counting
//! newlines for line numbers, and each element is parsed on its own.
//!
//! Object fields are read in file order (the default `serde_json::Map` sorts them), so extra
//! columns appear in the order the operator wrote them. Extras are stringified: strings as-is,
//! numbers and booleans as JSON text, `null` as `""`, arrays and objects as JSON text.

use super::limits::{too_long, MAX_RECORD};
use super::{key_name, pick_key, Columns, InputError, InputOptions, Parsed, Source};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;
use std::io::{BufRead, ErrorKind, Read};

/// One array element or JSON Lines line, fields kept in file order.
enum Element {
    Str(String),
    Obj(Vec<(String, Value)>),
    /// Anything else: what it is, and its JSON text.
    Other(&'static str, String),
}

impl<'de> Deserialize<'de> for Element {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ElementVisitor)
    }
}

struct ElementVisitor;

impl<'de> Visitor<'de> for ElementVisitor {
    type Value = Element;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or an object")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Element, E> {
        Ok(Element::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Element, E> {
        Ok(Element::Str(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Element, E> {
        Ok(Element::Other("a boolean", v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Element, E> {
        Ok(Element::Other("a number", v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Element, E> {
        Ok(Element::Other("a number", v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Element, E> {
        Ok(Element::Other("a number", Value::from(v).to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Element, E> {
        Ok(Element::Other("null", "null".to_string()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Element, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            items.push(v);
        }
        Ok(Element::Other("an array", Value::Array(items).to_string()))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Element, A::Error> {
        let mut fields = Vec::new();
        while let Some(entry) = map.next_entry::<String, Value>()? {
            fields.push(entry);
        }
        Ok(Element::Obj(fields))
    }
}

/// Turns one element into a record (minus numbering and validation).
fn to_parsed(element: Element, line: u64, opts: &InputOptions, cols: &mut Columns) -> Parsed {
    let mut parsed = Parsed {
        line,
        raw: String::new(),
        problem: None,
        by_id: false,
        extras: Vec::new(),
    };
    match element {
        Element::Str(s) => parsed.raw = s,
        Element::Other(kind, text) => {
            parsed.problem = Some(format!("expected a string or an object, found {kind}"));
            parsed.raw = text;
        }
        Element::Obj(fields) => {
            let key = pick_key(fields.iter().map(|(k, _)| k.as_str()), opts);
            parsed.by_id =
                key.is_some_and(|i| fields[i].0.trim().eq_ignore_ascii_case("sim_card_id"));
            match key {
                None => parsed.problem = Some(format!("no {} field in the object", key_name(opts))),
                Some(i) => match &fields[i].1 {
                    Value::String(s) => parsed.raw = s.clone(),
                    // An ICCID written as a JSON number is exact only while it fits a u64;
                    // a 20-digit one has already lost digits in any JSON tool before us.
                    Value::Number(n) if n.is_u64() => parsed.raw = n.to_string(),
                    other => {
                        parsed.raw = other.to_string();
                        parsed.problem = Some(format!(
                            "field {} is {}, expected a string",
                            fields[i].0,
                            describe(other)
                        ));
                    }
                },
            }
            for (j, (name, value)) in fields.into_iter().enumerate() {
                if Some(j) != key {
                    parsed.extras.push((cols.slot(&name), stringify(value)));
                }
            }
        }
    }
    parsed
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number that does not fit 64 bits exactly",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn stringify(v: Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// A JSON array, element by element.
pub(crate) struct ArraySource<R> {
    name: String,
    reader: R,
    opts: InputOptions,
    /// Current physical line (1-based).
    line: u64,
    state: ArrayState,
}

#[derive(PartialEq)]
enum ArrayState {
    /// Before the opening `[`.
    Start,
    /// After `[` or a `,`: an element must follow (or `]` right after `[`).
    Element {
        first: bool,
    },
    /// After the closing `]`: only whitespace may follow.
    End,
    Done,
}

impl<R: BufRead + Send> ArraySource<R> {
    pub(crate) fn new(name: String, reader: R, opts: &InputOptions) -> Self {
        ArraySource {
            name,
            reader,
            opts: opts.clone(),
            line: 1,
            state: ArrayState::Start,
        }
    }

    fn err(&self, reason: impl Into<String>) -> InputError {
        InputError::unreadable(&self.name, Some(self.line), reason)
    }

    /// The next byte, consumed; `None` at end of input.
    fn byte(&mut self) -> Result<Option<u8>, InputError> {
        let b = self.peek()?;
        if let Some(b) = b {
            self.reader.consume(1);
            if b == b'\n' {
                self.line += 1;
            }
        }
        Ok(b)
    }

    fn peek(&mut self) -> Result<Option<u8>, InputError> {
        loop {
            match self.reader.fill_buf() {
                Ok(buf) => return Ok(buf.first().copied()),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(InputError::io(&self.name, Some(self.line), e)),
            }
        }
    }

    /// Skips whitespace; returns the next byte without consuming it.
    fn skip_ws(&mut self) -> Result<Option<u8>, InputError> {
        loop {
            match self.peek()? {
                Some(b) if b.is_ascii_whitespace() => {
                    self.byte()?;
                }
                other => return Ok(other),
            }
        }
    }

    /// Reads one element's bytes up to (not including) the top-level `,` or `]` that ends it.
    fn element_bytes(&mut self) -> Result<Vec<u8>, InputError> {
        let mut out = Vec::new();
        let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
        loop {
            let Some(b) = self.peek()? else {
                return Err(self.err("JSON array ends early (truncated file?)"));
            };
            if in_str {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_str = false;
                }
            } else {
                match b {
                    b'"' => in_str = true,
                    b'[' | b'{' => depth += 1,
                    b']' | b'}' if depth > 0 => depth -= 1,
                    b',' | b']' if depth == 0 => return Ok(out),
                    _ => {}
                }
            }
            if out.len() as u64 >= MAX_RECORD {
                return Err(self.err(too_long("the JSON array element starting here", MAX_RECORD)));
            }
            out.push(b);
            self.byte()?;
        }
    }

    fn next_inner(&mut self, cols: &mut Columns) -> Result<Option<Parsed>, InputError> {
        loop {
            match self.state {
                ArrayState::Done => return Ok(None),
                ArrayState::End => {
                    self.state = ArrayState::Done;
                    if self.skip_ws()?.is_some() {
                        return Err(self.err("unexpected text after the JSON array"));
                    }
                    return Ok(None);
                }
                ArrayState::Start => match self.skip_ws()? {
                    None => {
                        self.state = ArrayState::Done;
                        return Ok(None);
                    }
                    Some(b'[') => {
                        self.byte()?;
                        self.state = ArrayState::Element { first: true };
                    }
                    Some(_) => return Err(self.err("expected a JSON array (`[`)")),
                },
                ArrayState::Element { first } => {
                    match self.skip_ws()? {
                        None => return Err(self.err("JSON array ends early (truncated file?)")),
                        Some(b']') if first => {
                            self.byte()?;
                            self.state = ArrayState::End;
                            continue;
                        }
                        Some(b',' | b']') => {
                            return Err(self.err("expected a value in the JSON array"))
                        }
                        Some(_) => {}
                    }
                    let start = self.line;
                    let bytes = self.element_bytes()?;
                    let element: Element = serde_json::from_slice(&bytes).map_err(|e| {
                        InputError::unreadable(
                            &self.name,
                            Some(start + e.line().max(1) as u64 - 1),
                            format!("invalid JSON: {e}"),
                        )
                    })?;
                    // element_bytes stopped at `,` or `]`.
                    match self.byte()? {
                        Some(b']') => self.state = ArrayState::End,
                        _ => self.state = ArrayState::Element { first: false },
                    }
                    return Ok(Some(to_parsed(element, start, &self.opts, cols)));
                }
            }
        }
    }
}

impl<R: BufRead + Send> Source for ArraySource<R> {
    fn next_record(&mut self, cols: &mut Columns) -> Option<Result<Parsed, InputError>> {
        self.next_inner(cols).transpose()
    }
}

/// JSON Lines: one value per line; blank lines skipped.
pub(crate) struct LinesSource<R> {
    name: String,
    reader: R,
    opts: InputOptions,
    /// Lines read so far.
    line: u64,
    buf: Vec<u8>,
}

impl<R: BufRead + Send> LinesSource<R> {
    pub(crate) fn new(name: String, reader: R, opts: &InputOptions) -> Self {
        LinesSource {
            name,
            reader,
            opts: opts.clone(),
            line: 0,
            buf: Vec::new(),
        }
    }
}

impl<R: BufRead + Send> Source for LinesSource<R> {
    fn next_record(&mut self, cols: &mut Columns) -> Option<Result<Parsed, InputError>> {
        loop {
            self.buf.clear();
            let mut line = (&mut self.reader).take(MAX_RECORD + 1);
            match line.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(_) if self.buf.len() as u64 > MAX_RECORD => {
                    let reason = too_long("the line", MAX_RECORD);
                    let at = Some(self.line + 1);
                    return Some(Err(InputError::unreadable(&self.name, at, reason)));
                }
                Ok(_) => self.line += 1,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Some(Err(InputError::io(&self.name, Some(self.line + 1), e))),
            }
            let text = self.buf.trim_ascii();
            if text.is_empty() {
                continue;
            }
            return Some(Ok(match serde_json::from_slice::<Element>(text) {
                Ok(element) => to_parsed(element, self.line, &self.opts, cols),
                Err(e) => Parsed {
                    line: self.line,
                    raw: String::from_utf8_lossy(text).into_owned(),
                    problem: Some(if std::str::from_utf8(text).is_err() {
                        "not valid UTF-8".to_string()
                    } else {
                        format!("not valid JSON: {e}")
                    }),
                    by_id: false,
                    extras: Vec::new(),
                },
            }));
        }
    }
}
