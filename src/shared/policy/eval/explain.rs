//! [`trace`]: how every statement relates to a request, element by element
//! (for `gitiam policy simulate` and denial explanations).

use crate::shared::policy::ast::Effect;

use super::decision::{PolicyLayer, StatementRef};
use super::request::Request;

/// How one statement relates to a request, element by element (for
/// `gitiam policy simulate` and denial explanations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementTrace {
    /// Index of the layer in the `layers` given to [`trace`].
    pub layer: usize,
    /// The statement.
    pub statement: StatementRef,
    /// Its effect.
    pub effect: Effect,
    /// The `Action`/`NotAction` element covers the action.
    pub action: bool,
    /// The `Resource`/`NotResource` element covers the resource.
    pub resource: bool,
    /// The `Principal`/`NotPrincipal` element covers the caller (`None`:
    /// the statement has neither).
    pub principal: Option<bool>,
    /// Each condition and whether it holds.
    pub conditions: Vec<ConditionTrace>,
    /// All of the above hold: the statement applies.
    pub applies: bool,
}

/// One condition of a [`StatementTrace`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionTrace {
    /// The condition as written: `StringEquals {"aws:username": "alice"}`.
    pub condition: String,
    /// Its key.
    pub key: String,
    /// The key's values in the request (`None`: absent).
    pub request_values: Option<Vec<String>>,
    /// Whether it holds.
    pub holds: bool,
}

/// Every statement of every layer with how it relates to `request` (all
/// conditions are evaluated, none short-circuited).
pub fn trace(layers: &[PolicyLayer<'_>], request: &Request<'_>) -> Vec<StatementTrace> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        layer.for_each_statement(|policy, statement| {
            let action = statement.matches_action(request.action);
            let resource = statement.matches_resource(request.resource, request.context);
            let principal = statement
                .has_principal()
                .then(|| statement.matches_principal(request.principal));
            let conditions: Vec<ConditionTrace> = statement
                .conditions()
                .iter()
                .map(|c| ConditionTrace {
                    condition: c.to_string(),
                    key: c.key().to_string(),
                    request_values: request.context.get(c.key()).map(<[String]>::to_vec),
                    holds: c.evaluate(request.context, &mut errors),
                })
                .collect();
            let applies = action
                && resource
                && principal != Some(false)
                && conditions.iter().all(|c| c.holds);
            out.push(StatementTrace {
                layer: i,
                statement: StatementRef::of(policy, statement),
                effect: statement.effect(),
                action,
                resource,
                principal,
                conditions,
                applies,
            });
        });
    }
    out
}
