//! Team memberships through GraphQL: every question of an evaluation in one query, one alias
//! per question (`organization.team.members(query:)`). `members(query:)` is a search (`bob`
//! finds `bobby`): a member is only an account whose `databaseId` is the user's id exactly.
//! `membership: ALL` counts child teams' members, as REST's team membership does. Anything
//! GraphQL cannot say whole (an error, a team it does not show, more than 100 matches, a user
//! without an id) is asked through REST.

use super::GithubClient;
use super::graphql::RateLimit;
use crate::forge::ForgeError;
use crate::model::{TeamRef, User};
use serde::Deserialize;

/// The members query for (org, team slug, login) questions, one alias each (`m0`, `m1`…).
pub fn members_query(questions: &[(&str, &str, &str)]) -> String {
    let mut vars = vec![];
    let mut fields = vec![];
    for i in 0..questions.len() {
        vars.push(format!("$o{i}: String!, $s{i}: String!, $q{i}: String!"));
        fields.push(format!(
            "m{i}: organization(login: $o{i}) {{ team(slug: $s{i}) {{ members(query: $q{i}, first: 100, membership: ALL) {{ pageInfo {{ hasNextPage }} nodes {{ databaseId }} }} }} }}"
        ));
    }
    format!(
        "query ChangegateMembers({}) {{ rateLimit {{ cost limit remaining resetAt }} {} }}",
        vars.join(", "),
        fields.join(" ")
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Found {
    page_info: Page,
    nodes: Vec<Member>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    has_next_page: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Member {
    database_id: Option<u64>,
}

/// Pure: each question's answer from a members query's answer (`None`: ask REST), and the
/// rate limit it states. Any error fails every answer.
pub fn read_members(
    body: &[u8],
    ids: &[u64],
) -> Result<(Vec<Option<bool>>, Option<RateLimit>), String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if v.get("errors")
        .and_then(|e| e.as_array())
        .is_some_and(|e| !e.is_empty())
    {
        return Err("GraphQL answered errors".into());
    }
    let rate = v
        .pointer("/data/rateLimit")
        .and_then(|r| serde_json::from_value(r.clone()).ok());
    let answers = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let found = v.pointer(&format!("/data/m{i}/team/members"))?;
            let found: Found = serde_json::from_value(found.clone()).ok()?;
            if found.page_info.has_next_page {
                return None;
            }
            Some(found.nodes.iter().any(|m| m.database_id == Some(*id)))
        })
        .collect();
    Ok((answers, rate))
}

impl GithubClient {
    /// Whether each user is in each team: one GraphQL query for all, REST for what it
    /// cannot answer.
    pub(super) async fn members(
        &self,
        questions: &[(TeamRef, User)],
    ) -> Result<Vec<bool>, ForgeError> {
        use crate::forge::Forge;
        let asked: Vec<(&str, &str, &str, u64)> = questions
            .iter()
            .filter_map(|(team, user)| match (team, &user.username, user.id) {
                (TeamRef::GithubTeam { org, slug }, Some(login), Some(id)) => {
                    Some((org.as_str(), slug.as_str(), login.as_str(), id))
                }
                _ => None,
            })
            .collect();
        let mut answers: Vec<Option<bool>> = vec![None; questions.len()];
        if asked.len() == questions.len() && !asked.is_empty() {
            let read = self.members_by_graphql(&asked).await;
            if let Some(read) = read {
                answers = read;
            }
        }
        let mut out = Vec::with_capacity(questions.len());
        for ((team, user), answer) in questions.iter().zip(answers) {
            out.push(match answer {
                Some(member) => member,
                None => self.is_member(team, user).await?,
            });
        }
        Ok(out)
    }

    async fn members_by_graphql(
        &self,
        asked: &[(&str, &str, &str, u64)],
    ) -> Option<Vec<Option<bool>>> {
        let org = asked.first()?.0;
        let auth_url = format!("{}/orgs/{}", self.api, super::client::enc(org));
        let installation = self.token_for(&auth_url);
        if !self.graphql_available(&installation) {
            return None;
        }
        let triples: Vec<(&str, &str, &str)> =
            asked.iter().map(|(o, s, q, _)| (*o, *s, *q)).collect();
        let mut variables = serde_json::Map::new();
        for (i, (o, s, q)) in triples.iter().enumerate() {
            variables.insert(format!("o{i}"), (*o).into());
            variables.insert(format!("s{i}"), (*s).into());
            variables.insert(format!("q{i}"), (*q).into());
        }
        let body = serde_json::json!({ "query": members_query(&triples), "variables": variables });
        let reply = match self
            .post_graphql(
                &auth_url,
                &installation,
                &body,
                "read team memberships (GraphQL)",
            )
            .await
        {
            Ok(reply) => reply,
            Err(e) => {
                tracing::warn!(error = %e, "the members query failed: asking REST");
                return None;
            }
        };
        let ids: Vec<u64> = asked.iter().map(|a| a.3).collect();
        match read_members(&reply.body, &ids) {
            Ok((answers, rate)) => {
                match rate {
                    Some(rate) => self.note_points(&installation, &rate),
                    None => crate::forge::quota::spend_points(1),
                }
                Some(answers)
            }
            Err(why) => {
                crate::forge::quota::spend_points(1);
                tracing::warn!(%why, "a partial members answer is refused whole: asking REST");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_match_is_not_a_member() {
        // `bob` (id 307) asked; the search finds `bobby` (id 526) only.
        let body = br#"{"data":{"rateLimit":{"cost":1,"limit":5000,"remaining":4999,"resetAt":"2026-01-01T01:00:00Z"},
            "m0":{"team":{"members":{"pageInfo":{"hasNextPage":false},"nodes":[{"databaseId":526}]}}},
            "m1":{"team":{"members":{"pageInfo":{"hasNextPage":false},"nodes":[{"databaseId":526},{"databaseId":307}]}}},
            "m2":{"team":null},
            "m3":{"team":{"members":{"pageInfo":{"hasNextPage":true},"nodes":[]}}}}}"#;
        let (answers, rate) = read_members(body, &[307, 307, 307, 307]).unwrap();
        assert_eq!(answers, vec![Some(false), Some(true), None, None]);
        assert_eq!(rate.unwrap().cost, 1);
        let errors = br#"{"data":{"m0":null},"errors":[{"type":"FORBIDDEN","message":"Resource protected by organization SAML enforcement."}]}"#;
        assert!(read_members(errors, &[307]).is_err());
    }

    #[test]
    fn the_query_names_each_question() {
        let q = members_query(&[("acme", "a", "bob"), ("acme", "b", "mona")]);
        assert!(q.contains("m1: organization(login: $o1)"), "{q}");
        assert!(q.contains("$q1: String!"));
    }
}
