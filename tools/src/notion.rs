//! Notion's REST API (`<base>/v1/...`) with an integration token (`Authorization: Bearer`)
//! and the `Notion-Version` header. Blocks are given in Cronium's short form
//! (`{"type": "paragraph", "content": "..."}`) and sent in Notion's.

use http::Method;
use serde_json::{json, Map, Value};

use super::config::Endpoints;
use super::plugin::{api_url, header, json_request, opt, opt_str, req_str, Plan, Plugin};
use super::{only_fields, Action, Secrets, ToolError};

/// The API version every request names.
pub const NOTION_VERSION: &str = "2022-06-28";

/// JSON Schema of the credential (Cronium's fields).
pub fn credential_schema() -> Value {
    json!({
        "type": "object",
        "required": ["apiKey"],
        "additionalProperties": false,
        "properties": {
            "apiKey": {"type": "string", "minLength": 1, "description": "An integration token (secret_... or ntn_...)"},
            "workspaceId": {"type": "string", "description": "Kept for Cronium's stored credentials; not used"}
        }
    })
}

const BLOCK_TYPES: [&str; 15] = [
    "paragraph",
    "heading_1",
    "heading_2",
    "heading_3",
    "bulleted_list_item",
    "numbered_list_item",
    "toggle",
    "to_do",
    "quote",
    "divider",
    "code",
    "callout",
    "bookmark",
    "equation",
    "table_of_contents",
];

fn block_schema() -> Value {
    json!({
        "type": "object",
        "required": ["type"],
        "additionalProperties": false,
        "properties": {
            "type": {"enum": BLOCK_TYPES},
            "content": {"type": "string"},
            "checked": {"type": "boolean"},
            "language": {"type": "string"},
            "icon": {"type": "object"},
            "color": {"type": "string"},
            "url": {"type": "string"},
            "caption": {"type": "string"},
            "expression": {"type": "string"},
            "children": {"type": "array", "items": {"type": "object"}}
        }
    })
}

fn id(what: &str) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 128, "description": what})
}

/// Params of `create-page`.
pub fn create_page_params() -> Value {
    json!({
        "type": "object",
        "required": ["parentId", "title"],
        "additionalProperties": false,
        "properties": {
            "parentId": id("The parent page (or database, with parentType)"),
            "parentType": {"enum": ["page", "database"], "default": "page"},
            "title": {"type": "string", "minLength": 1},
            "icon": {"type": "object"},
            "cover": {"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}}},
            "properties": {"type": "object", "description": "Notion property values, for a database parent"},
            "children": {"type": "array", "items": block_schema()}
        }
    })
}

/// Params of `manage-blocks`.
pub fn manage_blocks_params() -> Value {
    json!({
        "type": "object",
        "required": ["operation"],
        "additionalProperties": false,
        "properties": {
            "operation": {"enum": ["append", "update", "delete", "retrieve"]},
            "pageId": id("append: the page (or block) to append to"),
            "blockId": id("update, delete, retrieve: the block"),
            "blocks": {"type": "array", "items": block_schema(), "description": "append: the blocks; update: the block's new content (one)"},
            "after": id("append: insert after this block")
        }
    })
}

/// Params of `search-content`.
pub fn search_content_params() -> Value {
    json!({
        "type": "object",
        "required": ["query"],
        "additionalProperties": false,
        "properties": {
            "query": {"type": "string"},
            "filter": {"type": "object", "additionalProperties": false, "properties": {
                "property": {"enum": ["object", "page", "database"]},
                "value": {"enum": ["page", "database"]}
            }},
            "sort": {"type": "object", "required": ["direction"], "properties": {
                "direction": {"enum": ["ascending", "descending"]},
                "timestamp": {"enum": ["last_edited_time"]}
            }},
            "pageSize": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
            "startCursor": {"type": "string"}
        }
    })
}

/// Params of `update-database`.
pub fn update_database_params() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "operation": {"enum": ["update", "query"], "default": "update"},
            "databaseId": id("The database"),
            "pageId": id("update: the entry (page) to update"),
            "properties": {"type": "object", "description": "update: Notion property values by name"},
            "archived": {"type": "boolean"},
            "filter": {"type": "object", "description": "query: a Notion database filter"},
            "sorts": {"type": "array", "items": {"type": "object"}},
            "pageSize": {"type": "integer", "minimum": 1, "maximum": 100},
            "startCursor": {"type": "string"}
        }
    })
}

/// Result fields per action.
pub fn result_schema(action: Action) -> Value {
    let props = match action {
        Action::NotionCreatePage => {
            json!({"pageId": {"type": "string"}, "url": {"type": "string"}})
        }
        Action::NotionManageBlocks => json!({"blocks": {"type": "array"}}),
        Action::NotionSearchContent => {
            json!({"results": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "string"}, "type": {"type": "string"}, "title": {"type": "string"}, "url": {"type": "string"},
            "lastEditedTime": {"type": "string"}, "parentId": {"type": "string"}, "parentType": {"type": "string"}}}},
            "hasMore": {"type": "boolean"}, "nextCursor": {"type": ["string", "null"]}})
        }
        _ => {
            json!({"lastEditedTime": {"type": "string"}, "results": {"type": "array"}, "hasMore": {"type": "boolean"}, "nextCursor": {"type": ["string", "null"]}})
        }
    };
    let mut props = props;
    props["data"] = json!({"type": "object", "description": "Notion's whole answer"});
    json!({"type": "object", "properties": props})
}

struct Notion {
    key: String,
}

/// Reads a Notion credential.
pub fn open(cfg: &Map<String, Value>) -> Result<Box<dyn Plugin>, String> {
    only_fields(cfg, &["apiKey", "workspaceId"])?;
    let key = cfg
        .get("apiKey")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or("needs apiKey, an integration token from https://www.notion.so/my-integrations")?;
    Ok(Box::new(Notion {
        key: key.to_owned(),
    }))
}

fn rich_text(text: &str) -> Value {
    json!([{"type": "text", "text": {"content": text}}])
}

/// Cronium's short block form to Notion's.
fn block(b: &Value) -> Value {
    let kind = b["type"].as_str().unwrap_or("paragraph");
    let mut content = Map::new();
    if !matches!(
        kind,
        "divider" | "table_of_contents" | "bookmark" | "equation"
    ) {
        content.insert(
            "rich_text".into(),
            rich_text(b["content"].as_str().unwrap_or_default()),
        );
    }
    match kind {
        "to_do" => {
            content.insert(
                "checked".into(),
                b.get("checked").cloned().unwrap_or(Value::Bool(false)),
            );
        }
        "code" => {
            content.insert(
                "language".into(),
                b.get("language")
                    .cloned()
                    .unwrap_or_else(|| "plain text".into()),
            );
        }
        "callout" => {
            if let Some(i) = b.get("icon") {
                content.insert("icon".into(), i.clone());
            }
        }
        "bookmark" => {
            content.insert("url".into(), b.get("url").cloned().unwrap_or_default());
            if let Some(c) = b["caption"].as_str() {
                content.insert("caption".into(), rich_text(c));
            }
        }
        "equation" => {
            content.insert(
                "expression".into(),
                b.get("expression").cloned().unwrap_or_default(),
            );
        }
        _ => {}
    }
    if let Some(c) = b.get("color") {
        content.insert("color".into(), c.clone());
    }
    if let Some(Value::Array(children)) = b.get("children") {
        content.insert("children".into(), children.iter().map(block).collect());
    }
    let mut m = Map::new();
    m.insert("object".into(), "block".into());
    m.insert("type".into(), kind.into());
    m.insert(kind.into(), Value::Object(content));
    Value::Object(m)
}

fn data(v: &Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("data".into(), v.clone());
    m
}

/// A search hit in Cronium's result shape.
fn hit(item: &Value) -> Value {
    let title = if item["object"] == "database" {
        item["title"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|x| x["plain_text"].as_str())
                    .collect::<String>()
            })
            .unwrap_or_default()
    } else {
        item["properties"]
            .as_object()
            .and_then(|props| props.values().find(|p| p["type"] == "title"))
            .and_then(|p| p["title"][0]["plain_text"].as_str())
            .unwrap_or("Untitled")
            .to_owned()
    };
    let parent = &item["parent"];
    json!({
        "id": item["id"],
        "type": item["object"],
        "title": title,
        "url": item["url"],
        "lastEditedTime": item["last_edited_time"],
        "parentId": parent.get("page_id").or_else(|| parent.get("database_id")).cloned().unwrap_or(Value::Null),
        "parentType": parent["type"],
    })
}

impl Plugin for Notion {
    fn describe(&self) -> String {
        "Notion API (integration token)".into()
    }

    fn secrets(&self, s: &mut Secrets) {
        s.add(&self.key);
    }

    fn probe_url(&self, e: &Endpoints) -> url::Url {
        e.notion.clone()
    }

    fn plan(
        &self,
        action: Action,
        p: &Map<String, Value>,
        e: &Endpoints,
    ) -> Result<Plan, ToolError> {
        let base = &e.notion;
        let headers = vec![
            header("authorization", &format!("Bearer {}", self.key))?,
            header("notion-version", NOTION_VERSION)?,
        ];
        let req = |method: Method, segs: &[&str], body: Option<&Value>| {
            json_request(method, api_url(base, segs), headers.clone(), body)
        };
        let need = |name: &str, op: &str| {
            opt_str(p, name).ok_or_else(|| {
                super::params_invalid(format!("{name} is required for operation {op}"))
            })
        };
        Ok(match action {
            Action::NotionCreatePage => {
                let parent = if opt_str(p, "parentType") == Some("database") {
                    json!({"type": "database_id", "database_id": req_str(p, "parentId")})
                } else {
                    json!({"type": "page_id", "page_id": req_str(p, "parentId")})
                };
                let mut props = Map::new();
                props.insert(
                    "title".into(),
                    json!({"title": [{"text": {"content": req_str(p, "title")}}]}),
                );
                if let Some(Value::Object(extra)) = opt(p, "properties") {
                    for (k, v) in extra.iter().filter(|(k, _)| k.as_str() != "title") {
                        props.insert(k.clone(), v.clone());
                    }
                }
                let mut page = json!({"parent": parent, "properties": props});
                if let Some(icon) = opt(p, "icon") {
                    page["icon"] = icon.clone();
                }
                if let Some(cover) = opt(p, "cover") {
                    page["cover"] = json!({"type": "external", "external": {"url": cover["url"]}});
                }
                if let Some(Value::Array(children)) = opt(p, "children") {
                    page["children"] = children.iter().map(block).collect();
                }
                Plan::one(
                    req(Method::POST, &["v1", "pages"], Some(&page)),
                    Box::new(|v, _| {
                        let mut m = data(v);
                        m.insert("pageId".into(), v["id"].clone());
                        m.insert("url".into(), v["url"].clone());
                        m
                    }),
                )
            }
            Action::NotionManageBlocks => {
                let op = req_str(p, "operation");
                let blocks: Vec<Value> = match opt(p, "blocks") {
                    Some(Value::Array(b)) => b.iter().map(block).collect(),
                    _ => vec![],
                };
                let out = match op {
                    "append" => {
                        let page = need("pageId", op)?;
                        if blocks.is_empty() {
                            return Err(super::params_invalid(
                                "blocks is required for operation append (at least one block)",
                            ));
                        }
                        let mut body = json!({"children": blocks});
                        if let Some(a) = opt_str(p, "after") {
                            body["after"] = a.into();
                        }
                        req(
                            Method::PATCH,
                            &["v1", "blocks", page, "children"],
                            Some(&body),
                        )
                    }
                    "update" => {
                        let id = need("blockId", op)?;
                        let Some(first) = blocks.first() else {
                            return Err(super::params_invalid(
                                "blocks is required for operation update (the block's new content)",
                            ));
                        };
                        req(Method::PATCH, &["v1", "blocks", id], Some(first))
                    }
                    "delete" => req(
                        Method::DELETE,
                        &["v1", "blocks", need("blockId", op)?],
                        None,
                    ),
                    _ => {
                        let mut o = req(
                            Method::GET,
                            &["v1", "blocks", need("blockId", op)?, "children"],
                            None,
                        );
                        o.url.query_pairs_mut().append_pair("page_size", "100");
                        o
                    }
                };
                Plan::one(
                    out,
                    Box::new(|v, _| {
                        let mut m = data(v);
                        if let Some(r) = v.get("results") {
                            m.insert("blocks".into(), r.clone());
                        }
                        m
                    }),
                )
            }
            Action::NotionSearchContent => {
                let mut body = json!({
                    "query": req_str(p, "query"),
                    "page_size": opt(p, "pageSize").cloned().unwrap_or_else(|| 10.into()),
                });
                if let Some(f) = opt(p, "filter") {
                    // Cronium's form names the object kind in `property`; Notion's wants
                    // `{"property": "object", "value": kind}`.
                    let kind = match f["property"].as_str() {
                        Some(k @ ("page" | "database")) => Some(k),
                        _ => f["value"].as_str(),
                    };
                    if let Some(k) = kind {
                        body["filter"] = json!({"property": "object", "value": k});
                    }
                }
                if let Some(s) = opt(p, "sort") {
                    body["sort"] = json!({
                        "direction": s["direction"],
                        "timestamp": s.get("timestamp").cloned().unwrap_or_else(|| "last_edited_time".into()),
                    });
                }
                if let Some(c) = opt_str(p, "startCursor") {
                    body["start_cursor"] = c.into();
                }
                Plan::one(
                    req(Method::POST, &["v1", "search"], Some(&body)),
                    Box::new(|v, _| {
                        let mut m = data(v);
                        let hits: Vec<Value> = v["results"]
                            .as_array()
                            .map(|r| r.iter().map(hit).collect())
                            .unwrap_or_default();
                        m.insert("results".into(), hits.into());
                        m.insert("hasMore".into(), v["has_more"].clone());
                        m.insert("nextCursor".into(), v["next_cursor"].clone());
                        m
                    }),
                )
            }
            _ => {
                if opt_str(p, "operation") == Some("query") {
                    let db = need("databaseId", "query")?;
                    let mut body = Map::new();
                    if let Some(f) = opt(p, "filter") {
                        body.insert("filter".into(), f.clone());
                    }
                    if let Some(s) = opt(p, "sorts") {
                        body.insert("sorts".into(), s.clone());
                    }
                    if let Some(n) = opt(p, "pageSize") {
                        body.insert("page_size".into(), n.clone());
                    }
                    if let Some(c) = opt_str(p, "startCursor") {
                        body.insert("start_cursor".into(), c.into());
                    }
                    Plan::one(
                        req(
                            Method::POST,
                            &["v1", "databases", db, "query"],
                            Some(&Value::Object(body)),
                        ),
                        Box::new(|v, _| {
                            let mut m = data(v);
                            m.insert("results".into(), v["results"].clone());
                            m.insert("hasMore".into(), v["has_more"].clone());
                            m.insert("nextCursor".into(), v["next_cursor"].clone());
                            m
                        }),
                    )
                } else {
                    let page = need("pageId", "update")?;
                    let Some(props) = opt(p, "properties") else {
                        return Err(super::params_invalid(
                            "properties is required for operation update",
                        ));
                    };
                    let mut body = json!({"properties": props});
                    if let Some(a) = opt(p, "archived") {
                        body["archived"] = a.clone();
                    }
                    Plan::one(
                        req(Method::PATCH, &["v1", "pages", page], Some(&body)),
                        Box::new(|v, _| {
                            let mut m = data(v);
                            m.insert("lastEditedTime".into(), v["last_edited_time"].clone());
                            m
                        }),
                    )
                }
            }
        })
    }
}
