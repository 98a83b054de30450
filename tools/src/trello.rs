//! Trello's REST API (`<base>/1/...`), authenticated by the credential's API key and token
//! as the `key` and `token` query params, as Cronium sends them. `create-card` posts a card,
//! `move-card` puts its new list/board/position, `add-checklist` posts a checklist and then
//! each of its items.

use http::Method;
use serde_json::{json, Map, Value};

use super::config::Endpoints;
use super::plugin::{api_url, json_request, opt, opt_str, req_str, Plan, Plugin};
use super::{only_fields, Action, Secrets, ToolError};

/// JSON Schema of the credential (Cronium's fields).
pub fn credential_schema() -> Value {
    json!({
        "type": "object",
        "required": ["apiKey", "apiToken"],
        "additionalProperties": false,
        "properties": {
            "apiKey": {"type": "string", "minLength": 1, "description": "From https://trello.com/app-key"},
            "apiToken": {"type": "string", "minLength": 1, "description": "A token the key's owner granted"}
        }
    })
}

fn pos() -> Value {
    json!({"anyOf": [{"enum": ["top", "bottom"]}, {"type": "number", "minimum": 0}], "description": "top, bottom or a positive number"})
}

fn id(what: &str) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 128, "description": what})
}

/// Params of `create-card`.
pub fn create_card_params() -> Value {
    json!({
        "type": "object",
        "required": ["listId", "name"],
        "additionalProperties": false,
        "properties": {
            "listId": id("The list to add the card to"),
            "name": {"type": "string", "minLength": 1},
            "desc": {"type": "string"},
            "pos": pos(),
            "due": {"type": "string", "description": "ISO 8601"},
            "dueComplete": {"type": "boolean"},
            "idMembers": {"type": "array", "items": {"type": "string"}},
            "idLabels": {"type": "array", "items": {"type": "string"}},
            "urlSource": {"type": "string"},
            "idCardSource": {"type": "string"},
            "keepFromSource": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
        }
    })
}

/// Params of `move-card`.
pub fn move_card_params() -> Value {
    json!({
        "type": "object",
        "required": ["cardId"],
        "additionalProperties": false,
        "properties": {
            "cardId": id("The card to move"),
            "destinationListId": id("The list to move it to"),
            "destinationBoardId": id("The board to move it to, if another"),
            "pos": pos()
        }
    })
}

/// Params of `add-checklist`.
pub fn add_checklist_params() -> Value {
    json!({
        "type": "object",
        "required": ["cardId", "name"],
        "additionalProperties": false,
        "properties": {
            "cardId": id("The card"),
            "name": {"type": "string", "minLength": 1},
            "idChecklistSource": {"type": "string"},
            "pos": pos(),
            "checkItems": {
                "type": "array",
                "maxItems": 100,
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": false,
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "pos": pos(),
                        "checked": {"type": "boolean"}
                    }
                }
            }
        }
    })
}

/// Result fields per action.
pub fn result_schema(action: Action) -> Value {
    match action {
        Action::TrelloCreateCard => json!({"type": "object", "properties": {
            "cardId": {"type": "string"}, "url": {"type": "string"}, "data": {"type": "object"}}}),
        Action::TrelloAddChecklist => json!({"type": "object", "properties": {
            "checklistId": {"type": "string"},
            "checkItemIds": {"type": "array", "items": {"type": "string"}},
            "data": {"type": "object"}}}),
        _ => json!({"type": "object", "properties": {"data": {"type": "object"}}}),
    }
}

struct Trello {
    key: String,
    token: String,
}

/// Reads a Trello credential.
pub fn open(cfg: &Map<String, Value>) -> Result<Box<dyn Plugin>, String> {
    only_fields(cfg, &["apiKey", "apiToken"])?;
    let get = |k: &str| {
        cfg.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_owned)
            .ok_or_else(|| format!("needs {k} (from https://trello.com/app-key)"))
    };
    Ok(Box::new(Trello {
        key: get("apiKey")?,
        token: get("apiToken")?,
    }))
}

impl Trello {
    fn url(&self, base: &url::Url, segments: &[&str]) -> url::Url {
        let mut u = api_url(base, segments);
        u.query_pairs_mut()
            .append_pair("key", &self.key)
            .append_pair("token", &self.token);
        u
    }
}

fn first_answer_id(v: &Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("data".into(), v.clone());
    m
}

impl Plugin for Trello {
    fn describe(&self) -> String {
        "Trello API (key and token)".into()
    }

    fn secrets(&self, s: &mut Secrets) {
        s.add(&self.key);
        s.add(&self.token);
    }

    fn probe_url(&self, e: &Endpoints) -> url::Url {
        e.trello.clone()
    }

    fn plan(
        &self,
        action: Action,
        p: &Map<String, Value>,
        e: &Endpoints,
    ) -> Result<Plan, ToolError> {
        let base = &e.trello;
        match action {
            Action::TrelloCreateCard => {
                let mut card = Map::new();
                card.insert("idList".into(), req_str(p, "listId").into());
                card.insert("name".into(), req_str(p, "name").into());
                card.insert(
                    "pos".into(),
                    opt(p, "pos").cloned().unwrap_or_else(|| "bottom".into()),
                );
                if let Some(d) = opt_str(p, "desc") {
                    card.insert("desc".into(), d.into());
                }
                if let Some(due) = opt_str(p, "due") {
                    card.insert("due".into(), due.into());
                    card.insert(
                        "dueComplete".into(),
                        opt(p, "dueComplete").cloned().unwrap_or(Value::Bool(false)),
                    );
                }
                for list in ["idMembers", "idLabels"] {
                    if let Some(Value::Array(a)) = opt(p, list) {
                        if !a.is_empty() {
                            let ids: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
                            card.insert(list.into(), ids.join(",").into());
                        }
                    }
                }
                if let Some(u) = opt_str(p, "urlSource") {
                    card.insert("urlSource".into(), u.into());
                }
                if let Some(src) = opt_str(p, "idCardSource") {
                    card.insert("idCardSource".into(), src.into());
                    match opt(p, "keepFromSource") {
                        Some(Value::Array(a)) => {
                            let keep: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
                            card.insert("keepFromSource".into(), keep.join(",").into());
                        }
                        Some(v) => {
                            card.insert("keepFromSource".into(), v.clone());
                        }
                        None => {}
                    }
                }
                Ok(Plan::one(
                    json_request(
                        Method::POST,
                        self.url(base, &["1", "cards"]),
                        vec![],
                        Some(&Value::Object(card)),
                    ),
                    Box::new(|v, _| {
                        let mut m = first_answer_id(v);
                        m.insert("cardId".into(), v["id"].clone());
                        m.insert("url".into(), v["url"].clone());
                        m
                    }),
                ))
            }
            Action::TrelloMoveCard => {
                let mut upd = Map::new();
                if let Some(l) = opt_str(p, "destinationListId") {
                    upd.insert("idList".into(), l.into());
                }
                if let Some(b) = opt_str(p, "destinationBoardId") {
                    upd.insert("idBoard".into(), b.into());
                }
                if let Some(pos) = opt(p, "pos") {
                    upd.insert("pos".into(), pos.clone());
                }
                if upd.is_empty() {
                    return Err(super::params_invalid(
                        "destinationListId is required (or destinationBoardId, or pos): the card needs somewhere to go",
                    ));
                }
                Ok(Plan::one(
                    json_request(
                        Method::PUT,
                        self.url(base, &["1", "cards", req_str(p, "cardId")]),
                        vec![],
                        Some(&Value::Object(upd)),
                    ),
                    Box::new(|v, _| first_answer_id(v)),
                ))
            }
            _ => {
                let mut list = Map::new();
                list.insert("idCard".into(), req_str(p, "cardId").into());
                list.insert("name".into(), req_str(p, "name").into());
                list.insert(
                    "pos".into(),
                    opt(p, "pos").cloned().unwrap_or_else(|| "bottom".into()),
                );
                if let Some(src) = opt_str(p, "idChecklistSource") {
                    list.insert("idChecklistSource".into(), src.into());
                }
                let items: Vec<Value> = match opt(p, "checkItems") {
                    Some(Value::Array(a)) => a
                        .iter()
                        .map(|i| {
                            let mut m = Map::new();
                            m.insert("name".into(), i["name"].clone());
                            m.insert(
                                "checked".into(),
                                i.get("checked").cloned().unwrap_or(Value::Bool(false)),
                            );
                            if let Some(pos) = i.get("pos").filter(|v| !v.is_null()) {
                                m.insert("pos".into(), pos.clone());
                            }
                            Value::Object(m)
                        })
                        .collect(),
                    _ => vec![],
                };
                let (base2, key, token) = (base.clone(), self.key.clone(), self.token.clone());
                let then: super::plugin::FollowUp = Box::new(move |first: &Value| {
                    let id = first["id"]
                        .as_str()
                        .ok_or("Trello's answer to the new checklist has no id")?;
                    let t = Trello {
                        key: key.clone(),
                        token: token.clone(),
                    };
                    Ok(items
                        .iter()
                        .map(|item| {
                            json_request(
                                Method::POST,
                                t.url(&base2, &["1", "checklists", id, "checkItems"]),
                                vec![],
                                Some(item),
                            )
                        })
                        .collect())
                });
                Ok(Plan {
                    first: json_request(
                        Method::POST,
                        self.url(base, &["1", "checklists"]),
                        vec![],
                        Some(&Value::Object(list)),
                    ),
                    then: Some(then),
                    shape: Box::new(|v, items| {
                        let mut m = first_answer_id(v);
                        m.insert("checklistId".into(), v["id"].clone());
                        m.insert(
                            "checkItemIds".into(),
                            items.iter().map(|i| i["id"].clone()).collect(),
                        );
                        m
                    }),
                })
            }
        }
    }
}
