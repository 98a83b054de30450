//! Configuration files: the TOML of `cronium serve --config` parsed into the file's
//! settings, and the request limits resolved from them, with every environment variable
//! set to a value from the input too. Errors are fine; panics are not.
//!
//! Input: the file text up to a NUL byte, then the value every `CRONIUM_*` lookup returns.
#![no_main]

// The CLI's configuration module, compiled here as it is: the `cronium-cli` crate would
// bring the runner and the migrate grammars into the fuzz build.
#[allow(dead_code, unused_imports)]
#[path = "../../cli/src/config.rs"]
mod config;
// `config` names the admin settings as `crate::admin_config`.
#[allow(dead_code, unused_imports)]
#[path = "../../cli/src/admin_config.rs"]
mod admin_config;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(2, |&b| b == 0);
    let file = parts.next().unwrap_or_default();
    let value = parts.next().and_then(|v| std::str::from_utf8(v).ok());
    let Ok(text) = std::str::from_utf8(file) else {
        return;
    };
    let _ = config::parse_duration(text);
    let _ = config::parse_size(text);
    if let Ok(file) = config::parse_file(text) {
        let _ = config::limits_config(&file, &|_| None);
        if let Some(v) = value {
            let _ = config::limits_config(&file, &|_| Some(v.to_owned()));
        }
    }
});
