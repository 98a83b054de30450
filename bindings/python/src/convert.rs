//! JSON text ↔ Python objects, written out by hand for the hot path.
//!
//! Values travel through client-core as `Box<RawValue>` (the JSON text exactly as the
//! sidecar stored it), so the binding only converts between that text and Python
//! objects. Both directions keep types: `0`, `""`, `False` and `None` stay what they
//! are, integers of any size stay exact (serde_json without `arbitrary_precision` would
//! turn a big one into a float, which is why the reader below is not a serde visitor),
//! and floats round-trip through their shortest representation.
//!
//! Writing follows the `json` module's rules for keys (str, int, float, bool, None) and
//! refuses what JSON cannot hold: NaN and infinities, and objects of any other type, with
//! a `TypeError` naming the type.

use std::io::Write as _;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::value::RawValue;

/// Deeper than this is refused when writing: a reference cycle, or a value no JSON
/// reader on the other side would accept (serde_json stops at 128 levels).
const MAX_WRITE_DEPTH: usize = 128;
/// Past this depth the reader hands the text to the `json` module instead of recursing.
const MAX_READ_DEPTH: usize = 128;

// ----- Python → JSON ---------------------------------------------------------------

/// Serialises a Python value to JSON text, as a `RawValue` client-core sends verbatim.
pub(crate) fn to_raw(obj: &Bound<'_, PyAny>) -> PyResult<Box<RawValue>> {
    let text = to_json_string(obj)?;
    RawValue::from_string(text)
        .map_err(|e| PyValueError::new_err(format!("value is not valid JSON: {e}")))
}

/// Serialises a Python value to compact JSON text.
pub(crate) fn to_json_string(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    let mut out = Vec::with_capacity(64);
    write_value(&mut out, obj, 0)?;
    // Only ASCII punctuation and whole UTF-8 strings were written.
    String::from_utf8(out).map_err(|e| PyValueError::new_err(e.to_string()))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned())
}

fn write_str(out: &mut Vec<u8>, s: &Bound<'_, PyString>) -> PyResult<()> {
    let text = s.to_cow()?;
    serde_json::to_writer(&mut *out, text.as_ref())
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

fn write_int(out: &mut Vec<u8>, obj: &Bound<'_, PyAny>) -> PyResult<()> {
    match obj.extract::<i64>() {
        Ok(v) => {
            let _ = write!(out, "{v}");
        }
        Err(_) => {
            // Beyond 64 bits: the decimal text is exact. `int.__repr__` rather than
            // `repr()`, so an IntEnum member is written as its number.
            let py = obj.py();
            let text = py
                .get_type::<PyInt>()
                .call_method1("__repr__", (obj,))?
                .cast_into::<PyString>()?;
            out.extend_from_slice(text.to_cow()?.as_bytes());
        }
    }
    Ok(())
}

fn write_float(out: &mut Vec<u8>, value: f64) -> PyResult<()> {
    if !value.is_finite() {
        return Err(PyTypeError::new_err(format!(
            "float value {} is not JSON compliant (NaN and infinities cannot be stored)",
            if value.is_nan() {
                "nan"
            } else if value > 0.0 {
                "inf"
            } else {
                "-inf"
            }
        )));
    }
    // serde_json writes the shortest text that reads back to the same float, and always
    // with a `.` or an exponent, so it comes back a float, not an int.
    serde_json::to_writer(&mut *out, &value).map_err(|e| PyValueError::new_err(e.to_string()))
}

fn write_key(out: &mut Vec<u8>, key: &Bound<'_, PyAny>) -> PyResult<()> {
    if let Ok(s) = key.cast::<PyString>() {
        return write_str(out, s);
    }
    // The json module's rules: bool, int, float and None keys become strings.
    let text = if key.is_none() {
        "null".to_owned()
    } else if let Ok(b) = key.cast::<PyBool>() {
        if b.is_true() { "true" } else { "false" }.to_owned()
    } else if key.cast::<PyInt>().is_ok() {
        let mut digits = Vec::new();
        write_int(&mut digits, key)?;
        String::from_utf8(digits).map_err(|e| PyValueError::new_err(e.to_string()))?
    } else if let Ok(f) = key.cast::<PyFloat>() {
        let mut text = Vec::new();
        write_float(&mut text, f.value())?;
        String::from_utf8(text).map_err(|e| PyValueError::new_err(e.to_string()))?
    } else {
        return Err(PyTypeError::new_err(format!(
            "keys must be str, int, float, bool or None, not {}",
            type_name(key)
        )));
    };
    serde_json::to_writer(&mut *out, &text).map_err(|e| PyValueError::new_err(e.to_string()))
}

fn write_value(out: &mut Vec<u8>, obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<()> {
    if depth > MAX_WRITE_DEPTH {
        return Err(PyValueError::new_err(format!(
            "value is nested more than {MAX_WRITE_DEPTH} levels deep (or refers to itself)"
        )));
    }
    if obj.is_none() {
        out.extend_from_slice(b"null");
    } else if let Ok(s) = obj.cast::<PyString>() {
        write_str(out, s)?;
    } else if let Ok(b) = obj.cast::<PyBool>() {
        // Before int: bool is a subclass of int.
        out.extend_from_slice(if b.is_true() { b"true" } else { b"false" });
    } else if obj.cast::<PyInt>().is_ok() {
        write_int(out, obj)?;
    } else if let Ok(f) = obj.cast::<PyFloat>() {
        write_float(out, f.value())?;
    } else if let Ok(dict) = obj.cast::<PyDict>() {
        out.push(b'{');
        for (i, (key, value)) in dict.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_key(out, &key)?;
            out.push(b':');
            write_value(out, &value, depth + 1)?;
        }
        out.push(b'}');
    } else if let Ok(list) = obj.cast::<PyList>() {
        out.push(b'[');
        for (i, item) in list.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_value(out, &item, depth + 1)?;
        }
        out.push(b']');
    } else if let Ok(tuple) = obj.cast::<PyTuple>() {
        out.push(b'[');
        for (i, item) in tuple.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_value(out, &item, depth + 1)?;
        }
        out.push(b']');
    } else {
        return Err(PyTypeError::new_err(format!(
            "Object of type {} is not JSON serializable",
            type_name(obj)
        )));
    }
    Ok(())
}

// ----- JSON → Python ---------------------------------------------------------------

/// Builds the Python value of a JSON text (as client-core received it).
pub(crate) fn from_json<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    let mut reader = Reader {
        py,
        text,
        bytes: text.as_bytes(),
        pos: 0,
    };
    match reader.document() {
        Ok(value) => Ok(value),
        // Text this small reader does not handle (a lone UTF-16 surrogate escape, very
        // deep nesting): the json module does, and Python strings can hold surrogates.
        Err(ReadError::Unsupported) => json_loads(py, text),
        Err(ReadError::Invalid(at)) => Err(PyValueError::new_err(format!(
            "the runtime sent invalid JSON (at byte {at})"
        ))),
        Err(ReadError::Python(e)) => Err(e),
    }
}

fn json_loads<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let loads = LOADS.get_or_try_init(py, || {
        py.import("json")?.getattr("loads").map(Bound::unbind)
    })?;
    loads.bind(py).call1((text,))
}

enum ReadError {
    Invalid(usize),
    Unsupported,
    Python(PyErr),
}

impl From<PyErr> for ReadError {
    fn from(e: PyErr) -> Self {
        ReadError::Python(e)
    }
}

type Read<T> = Result<T, ReadError>;

struct Reader<'a, 'py> {
    py: Python<'py>,
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'py> Reader<'_, 'py> {
    fn document(&mut self) -> Read<Bound<'py, PyAny>> {
        let value = self.value(0)?;
        self.skip_ws();
        if self.pos != self.bytes.len() {
            return Err(ReadError::Invalid(self.pos));
        }
        Ok(value)
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Read<u8> {
        self.skip_ws();
        self.bytes
            .get(self.pos)
            .copied()
            .ok_or(ReadError::Invalid(self.pos))
    }

    fn literal(&mut self, word: &[u8]) -> Read<()> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(ReadError::Invalid(self.pos))
        }
    }

    fn value(&mut self, depth: usize) -> Read<Bound<'py, PyAny>> {
        if depth > MAX_READ_DEPTH {
            return Err(ReadError::Unsupported);
        }
        let py = self.py;
        match self.peek()? {
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b'"' => Ok(self.string()?.into_any()),
            b't' => {
                self.literal(b"true")?;
                Ok(PyBool::new(py, true).to_owned().into_any())
            }
            b'f' => {
                self.literal(b"false")?;
                Ok(PyBool::new(py, false).to_owned().into_any())
            }
            b'n' => {
                self.literal(b"null")?;
                Ok(py.None().into_bound(py))
            }
            _ => self.number(),
        }
    }

    fn object(&mut self, depth: usize) -> Read<Bound<'py, PyAny>> {
        let dict = PyDict::new(self.py);
        self.pos += 1;
        if self.peek()? == b'}' {
            self.pos += 1;
            return Ok(dict.into_any());
        }
        loop {
            if self.peek()? != b'"' {
                return Err(ReadError::Invalid(self.pos));
            }
            let key = self.string()?;
            if self.peek()? != b':' {
                return Err(ReadError::Invalid(self.pos));
            }
            self.pos += 1;
            let value = self.value(depth + 1)?;
            dict.set_item(key, value)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Ok(dict.into_any());
                }
                _ => return Err(ReadError::Invalid(self.pos)),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Read<Bound<'py, PyAny>> {
        let list = PyList::empty(self.py);
        self.pos += 1;
        if self.peek()? == b']' {
            self.pos += 1;
            return Ok(list.into_any());
        }
        loop {
            list.append(self.value(depth + 1)?)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Ok(list.into_any());
                }
                _ => return Err(ReadError::Invalid(self.pos)),
            }
        }
    }

    /// A string starting at the opening quote.
    fn string(&mut self) -> Read<Bound<'py, PyString>> {
        let start = self.pos + 1;
        let mut i = start;
        // Fast path: no escapes, so the text between the quotes is the string.
        loop {
            match self.bytes.get(i) {
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok(PyString::new(self.py, &self.text[start..i]));
                }
                Some(b'\\') => break,
                Some(_) => i += 1,
                None => return Err(ReadError::Invalid(i)),
            }
        }
        let mut s = String::with_capacity(i - start + 16);
        s.push_str(&self.text[start..i]);
        loop {
            match self.bytes.get(i) {
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok(PyString::new(self.py, &s));
                }
                Some(b'\\') => {
                    let esc = *self.bytes.get(i + 1).ok_or(ReadError::Invalid(i))?;
                    i += 2;
                    match esc {
                        b'"' => s.push('"'),
                        b'\\' => s.push('\\'),
                        b'/' => s.push('/'),
                        b'b' => s.push('\u{8}'),
                        b'f' => s.push('\u{c}'),
                        b'n' => s.push('\n'),
                        b'r' => s.push('\r'),
                        b't' => s.push('\t'),
                        b'u' => {
                            let hi = self.hex4(i)?;
                            i += 4;
                            let c = if (0xD800..0xDC00).contains(&hi) {
                                // A surrogate pair: the low half must follow.
                                if self.bytes.get(i..i + 2) != Some(b"\\u") {
                                    return Err(ReadError::Unsupported);
                                }
                                let lo = self.hex4(i + 2)?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(ReadError::Unsupported);
                                }
                                i += 6;
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            s.push(char::from_u32(c).ok_or(ReadError::Unsupported)?);
                        }
                        _ => return Err(ReadError::Invalid(i - 1)),
                    }
                }
                Some(_) => {
                    // Copy the run up to the next quote or escape in one go.
                    let run_start = i;
                    while let Some(b) = self.bytes.get(i) {
                        if *b == b'"' || *b == b'\\' {
                            break;
                        }
                        i += 1;
                    }
                    s.push_str(&self.text[run_start..i]);
                }
                None => return Err(ReadError::Invalid(i)),
            }
        }
    }

    fn hex4(&self, at: usize) -> Read<u32> {
        let digits = self.text.get(at..at + 4).ok_or(ReadError::Invalid(at))?;
        u32::from_str_radix(digits, 16).map_err(|_| ReadError::Invalid(at))
    }

    fn number(&mut self) -> Read<Bound<'py, PyAny>> {
        let start = self.pos;
        let mut integer = true;
        while let Some(&b) = self.bytes.get(self.pos) {
            match b {
                b'0'..=b'9' | b'-' | b'+' => {}
                b'.' | b'e' | b'E' => integer = false,
                _ => break,
            }
            self.pos += 1;
        }
        let text = &self.text[start..self.pos];
        if text.is_empty() {
            return Err(ReadError::Invalid(start));
        }
        let py = self.py;
        if integer {
            if let Ok(v) = text.parse::<i64>() {
                let Ok(int) = v.into_pyobject(py);
                return Ok(int.into_any());
            }
            // Arbitrary size: Python's int parses the decimal text exactly.
            return Ok(py.get_type::<PyInt>().call1((text,))?);
        }
        let v: f64 = text.parse().map_err(|_| ReadError::Invalid(start))?;
        Ok(PyFloat::new(py, v).into_any())
    }
}

// ----- exposed for tests and measurements --------------------------------------------

/// `json_dumps(value) -> str`: the text the module would send for `value`.
#[pyfunction]
pub(crate) fn json_dumps(value: &Bound<'_, PyAny>) -> PyResult<String> {
    to_json_string(value)
}

/// `json_loads(text) -> Any`: the value the module would return for JSON `text`.
#[pyfunction]
pub(crate) fn json_loads_native(py: Python<'_>, text: String) -> PyResult<Bound<'_, PyAny>> {
    // Validate first, as client-core does before a binding ever sees the text.
    let raw: Box<RawValue> = serde_json::from_str(&text)
        .map_err(|e| PyValueError::new_err(format!("invalid JSON: {e}")))?;
    from_json(py, raw.get())
}
