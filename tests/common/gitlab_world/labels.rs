//! The project's labels as `changegate labels` meets them on GitLab (REST
//! `projects/:id/labels`): listed with the ancestor groups' labels when asked
//! (`include_ancestor_groups`, `is_project_label: false`), created by name, and updated by id
//! (colour, description), keeping what was set so that a second sync finds nothing to do.

use super::{GlState, reply};
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

/// A label's colour and description, by label id (`#428BCA` and none until set).
#[derive(Default)]
pub struct Looks {
    pub by_id: Vec<(u64, String, Option<String>)>,
    /// Labels of the project's parent groups: (id, name, colour).
    pub group: Vec<(u64, String, String)>,
}

impl Looks {
    fn of(&self, id: u64) -> (String, Option<String>) {
        self.by_id
            .iter()
            .find(|(i, _, _)| *i == id)
            .map(|(_, c, d)| (c.clone(), d.clone()))
            .unwrap_or_else(|| ("#428BCA".into(), None))
    }

    fn set(&mut self, id: u64, color: Option<&str>, description: Option<&str>) {
        let (mut c, mut d) = self.of(id);
        if let Some(color) = color {
            c = color.to_string();
        }
        if let Some(text) = description {
            d = Some(text.to_string());
        }
        self.by_id.retain(|(i, _, _)| *i != id);
        self.by_id.push((id, c, d));
    }
}

fn label_json(id: u64, name: &str, looks: (String, Option<String>), project: bool) -> Value {
    json!({ "id": id, "name": name, "color": looks.0, "description": looks.1,
            "text_color": "#FFFFFF", "is_project_label": project, "subscribed": false })
}

/// Label routes that change or show colours and descriptions; a rename (`new_name`) is left to
/// the fake's own route.
pub(super) fn route(
    s: &mut GlState,
    method: &str,
    tail: &[&str],
    body: &Value,
    query: &[(String, String)],
) -> Option<ResponseTemplate> {
    match (method, tail) {
        ("GET", ["labels"]) => {
            let mut list: Vec<Value> = s
                .project_labels
                .iter()
                .map(|(id, name)| label_json(*id, name, s.label_looks.of(*id), true))
                .collect();
            if query
                .iter()
                .any(|(k, v)| k == "include_ancestor_groups" && v == "true")
            {
                list.extend(
                    s.label_looks.group.iter().map(|(id, name, color)| {
                        label_json(*id, name, (color.clone(), None), false)
                    }),
                );
            }
            Some(reply(200, json!(list)))
        }
        ("POST", ["labels"]) => {
            let (Some(name), Some(color)) = (body["name"].as_str(), body["color"].as_str()) else {
                return Some(reply(400, json!({ "error": "name, color are missing" })));
            };
            if s.project_labels.iter().any(|(_, n)| n == name) {
                return Some(reply(409, json!({ "message": "Label already exists" })));
            }
            let id = 100 + s.project_labels.len() as u64;
            s.project_labels.push((id, name.to_string()));
            s.label_looks
                .set(id, Some(color), body["description"].as_str());
            Some(reply(201, label_json(id, name, s.label_looks.of(id), true)))
        }
        ("PUT", ["labels", label]) if body.get("new_name").is_none() => {
            let id = label.parse::<u64>().ok()?;
            let Some((_, name)) = s.project_labels.iter().find(|(i, _)| *i == id).cloned() else {
                // A group's label is not the project's to change.
                return Some(reply(404, json!({ "message": "404 Label Not Found" })));
            };
            let (color, description) = (body["color"].as_str(), body["description"].as_str());
            if color.is_none() && description.is_none() {
                return Some(reply(
                    400,
                    json!({ "error": "new_name, color, description, priority are missing, at least one parameter must be provided" }),
                ));
            }
            s.label_looks.set(id, color, description);
            Some(reply(
                200,
                label_json(id, &name, s.label_looks.of(id), true),
            ))
        }
        _ => None,
    }
}
