//! The conformance cases (tests/conformance/cases.json) on the Rust client (client-core),
//! against one sidecar started by the test kit.
//!
//! Values stay JSON text end to end (`RawValue`): what the case file says is what is sent,
//! and what the sidecar answers is compared structurally with numbers compared by their
//! digits, so a big integer is checked exactly. One test runs every case and prints a
//! line per case, then `rust: N passed, N failed, N skipped`.

use std::collections::BTreeMap;
use std::path::Path;

use cronium_client::{Client, Config, Error};
use cronium_testkit::{ExecutionSpec, Sidecar};
use serde::Deserialize;
use serde_json::value::RawValue;

type Raw = Box<RawValue>;

#[derive(Deserialize)]
struct CaseFile {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[allow(dead_code)]
    doc: Option<String>,
    setup: ExecutionSpec,
    token: Option<String>,
    pending: Option<String>,
    #[serde(default)]
    skip: BTreeMap<String, String>,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    op: String,
    #[serde(default)]
    args: BTreeMap<String, Raw>,
    expect: BTreeMap<String, Raw>,
}

/// A JSON value with numbers kept as their text, so comparisons are exact.
#[derive(Debug, PartialEq)]
enum J {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<J>),
    Obj(BTreeMap<String, J>),
}

fn canon(raw: &RawValue) -> Result<J, String> {
    let text = raw.get().trim();
    let bad = |e: serde_json::Error| format!("{e} in {text}");
    Ok(match text.as_bytes().first() {
        Some(b'{') => J::Obj(
            serde_json::from_str::<BTreeMap<String, Raw>>(text)
                .map_err(bad)?
                .into_iter()
                .map(|(k, v)| canon(&v).map(|v| (k, v)))
                .collect::<Result<_, _>>()?,
        ),
        Some(b'[') => J::Arr(
            serde_json::from_str::<Vec<Raw>>(text)
                .map_err(bad)?
                .iter()
                .map(|v| canon(v))
                .collect::<Result<_, _>>()?,
        ),
        Some(b'"') => J::Str(serde_json::from_str(text).map_err(bad)?),
        Some(b't') => J::Bool(true),
        Some(b'f') => J::Bool(false),
        Some(b'n') => J::Null,
        _ => J::Num(text.to_owned()),
    })
}

/// What a step did.
enum Outcome {
    Value(J),
    Error(J),
    Unsupported(String),
}

fn error_fields(e: &Error) -> J {
    J::Obj(BTreeMap::from([
        ("code".to_owned(), J::Str(e.code().to_owned())),
        ("kind".to_owned(), J::Str(e.kind().as_str().to_owned())),
        (
            "status".to_owned(),
            e.status().map_or(J::Null, |s| J::Num(s.to_string())),
        ),
        ("retryable".to_owned(), J::Bool(e.retryable())),
    ]))
}

fn arg<'a>(args: &'a BTreeMap<String, Raw>, name: &str) -> Result<&'a RawValue, String> {
    args.get(name)
        .map(|v| &**v)
        .ok_or_else(|| format!("the step has no argument {name:?}"))
}

fn arg_str(args: &BTreeMap<String, Raw>, name: &str) -> Result<String, String> {
    serde_json::from_str(arg(args, name)?.get()).map_err(|e| format!("{name}: {e}"))
}

fn if_version(args: &BTreeMap<String, Raw>) -> Result<Option<u64>, String> {
    args.get("if_version")
        .map(|v| serde_json::from_str(v.get()).map_err(|e| format!("if_version: {e}")))
        .transpose()
}

/// One language-neutral operation on client-core (README.md's table).
async fn run_step(
    c: &Client,
    op: &str,
    args: &BTreeMap<String, Raw>,
) -> Result<Result<J, Error>, String> {
    let raw = |r: Raw| canon(&r);
    Ok(match op {
        "input" => match c.input::<Raw>().await {
            Ok(v) => Ok(raw(v)?),
            Err(e) => Err(e),
        },
        "output" => c.output(arg(args, "value")?).await.map(|()| J::Null),
        "get_output" => match c.get_output::<Raw>().await {
            Ok(v) => Ok(raw(v)?),
            Err(e) => Err(e),
        },
        "get_variable" => match c.get_variable::<Raw>(&arg_str(args, "key")?).await {
            Ok(Some(v)) => Ok(raw(v.value)?),
            // client-core reports a missing variable as None; the default is the caller's.
            Ok(None) => Ok(match args.get("default") {
                Some(d) => canon(d)?,
                None => J::Null,
            }),
            Err(e) => Err(e),
        },
        "get_variable_info" => match c.get_variable::<Raw>(&arg_str(args, "key")?).await {
            Ok(Some(v)) => Ok(J::Obj(BTreeMap::from([
                ("value".to_owned(), raw(v.value)?),
                ("version".to_owned(), J::Num(v.version.to_string())),
            ]))),
            Ok(None) => Ok(J::Null),
            Err(e) => Err(e),
        },
        "set_variable" => c
            .set_variable(
                &arg_str(args, "key")?,
                arg(args, "value")?,
                if_version(args)?,
            )
            .await
            .map(|m| J::Num(m.version.to_string())),
        "delete_variable" => c
            .delete_variable(&arg_str(args, "key")?, if_version(args)?)
            .await
            .map(J::Bool),
        "list_variables" => c
            .list_variables()
            .await
            .map(|keys| J::Arr(keys.into_iter().map(J::Str).collect())),
        "set_condition" => {
            let value: bool = serde_json::from_str(arg(args, "value")?.get())
                .map_err(|_| "set_condition takes a bool".to_owned())?;
            c.set_condition(value).await.map(|()| J::Null)
        }
        "get_condition" => c.get_condition().await.map(|v| v.map_or(J::Null, J::Bool)),
        "context" => match c.context::<Raw>().await {
            Ok(v) => Ok(raw(v)?),
            Err(e) => Err(e),
        },
        "stream_input" => match c.stream_input::<Raw>().await {
            Ok(mut s) => {
                let mut records = Vec::new();
                let mut failed = None;
                while let Some(r) = s.next().await {
                    match r {
                        Ok(v) => records.push(raw(v)?),
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                failed.map_or(Ok(J::Arr(records)), Err)
            }
            Err(e) => Err(e),
        },
        "stream_output" => {
            let records: Vec<Raw> = serde_json::from_str(arg(args, "records")?.get())
                .map_err(|e| format!("records: {e}"))?;
            async {
                let mut w = c.stream_output().await?;
                for r in &records {
                    w.write(&**r).await?;
                }
                let s = w.close().await?;
                Ok(J::Obj(BTreeMap::from([
                    ("records".to_owned(), J::Num(s.records.to_string())),
                    ("bytes".to_owned(), J::Num(s.bytes.to_string())),
                ])))
            }
            .await
        }
        "execute_tool_action" => {
            let params = args.get("params").map(|p| &**p);
            match c
                .execute_tool_action::<Raw, Option<&RawValue>>(
                    &arg_str(args, "tool")?,
                    &arg_str(args, "action")?,
                    &params,
                    None,
                )
                .await
            {
                Ok(v) => Ok(raw(v)?),
                Err(e) => Err(e),
            }
        }
        other => return Err(format!("no Rust mapping for {other}")),
    })
}

fn show(j: &J) -> String {
    format!("{j:?}")
}

fn check(step: &Step, got: &Outcome) -> Result<(), String> {
    let op = &step.op;
    let got = match got {
        Outcome::Unsupported(why) => {
            return Err(format!(
                "{op}: not expressible here ({why}) but the case does not skip rust"
            ))
        }
        Outcome::Error(e) if step.expect.contains_key("error") => {
            let J::Obj(want) = canon(&step.expect["error"])? else {
                return Err("expect.error is not an object".into());
            };
            let J::Obj(e) = e else { unreachable!() };
            for (k, v) in &want {
                if let Some(actual) = e.get(k) {
                    if actual != v {
                        return Err(format!(
                            "{op}: error {k} is {actual:?}, expected {v:?} (error {e:?})"
                        ));
                    }
                }
            }
            return Ok(());
        }
        Outcome::Error(e) => return Err(format!("{op}: unexpected error {}", show(e))),
        Outcome::Value(v) if step.expect.contains_key("error") => {
            return Err(format!("{op}: expected an error, got {}", show(v)))
        }
        Outcome::Value(v) => v,
    };
    if let Some(want) = step.expect.get("value") {
        let want = canon(want)?;
        if *got != want {
            return Err(format!("{op}: got {}, expected {}", show(got), show(&want)));
        }
    }
    if let Some(want) = step.expect.get("contains") {
        let (J::Obj(want), J::Obj(have)) = (canon(want)?, got) else {
            return Err(format!("{op}: got {}, expected an object", show(got)));
        };
        for (k, v) in &want {
            if have.get(k) != Some(v) {
                return Err(format!(
                    "{op}: field {k} is {:?}, expected {v:?}",
                    have.get(k)
                ));
            }
        }
    }
    Ok(())
}

async fn run_case(sidecar: &Sidecar, case: &Case) -> Result<(), String> {
    let execution = sidecar
        .create(&case.setup)
        .map_err(|e| format!("setup: {e}"))?;
    let token = case.token.clone().unwrap_or(execution.token);
    let config = Config::builder()
        .socket(&sidecar.socket)
        .token(token)
        .build()
        .map_err(|e| format!("client: {e}"))?;
    let client = Client::new(config);
    for step in &case.steps {
        let got = match run_step(&client, &step.op, &step.args).await {
            Ok(Ok(v)) => Outcome::Value(v),
            Ok(Err(e)) => Outcome::Error(error_fields(&e)),
            Err(why) => Outcome::Unsupported(why),
        };
        check(step, &got)?;
    }
    Ok(())
}

#[test]
fn every_case_on_client_core() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/cases.json");
    let text = std::fs::read_to_string(&path).expect("read cases.json");
    let file: CaseFile = serde_json::from_str(&text).expect("cases.json has the documented shape");
    let sidecar = Sidecar::start().expect("start a sidecar");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for case in &file.cases {
        if let Some(reason) = case.pending.as_ref().or(case.skip.get("rust")) {
            skipped += 1;
            println!("skip  {}: {reason}", case.name);
            continue;
        }
        match runtime.block_on(run_case(&sidecar, case)) {
            Ok(()) => {
                passed += 1;
                println!("ok    {}", case.name);
            }
            Err(why) => {
                failed += 1;
                println!("FAIL  {}: {why}", case.name);
            }
        }
    }
    println!("rust: {passed} passed, {failed} failed, {skipped} skipped");
    assert_eq!(
        failed, 0,
        "{failed} conformance case(s) failed on client-core"
    );
}
