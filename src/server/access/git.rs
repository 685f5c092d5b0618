//! Git access: `codecommit:GitPull` for upload-pack and its advertisement,
//! `codecommit:GitPush` for receive-pack and its advertisement, and for a
//! push one decision per ref that receive-pack will change, with
//! `codecommit:References` set to that ref. A push is allowed only when
//! every one of them is.

use crate::server::audit::AuditRecord;
use crate::shared::git::{
    GitService, PushRequest, RefDenial, RefusalAnswer, RepoName, refuse_push,
};
use crate::shared::policy::Evaluation;

use super::caller::Authenticated;
use super::context::{RequestFacts, caller_context};
use super::messages::{denial_reason, identity_denied};
use super::{GIT_PULL, GIT_PUSH, REFERENCES_KEY, evaluate_identity};

/// `arn:aws:codecommit:REGION:ACCOUNT:NAME`.
pub fn repository_arn(region: &str, account: &str, repo: &str) -> String {
    format!("arn:aws:codecommit:{region}:{account}:{repo}")
}

/// The IAM action of a Git service: pulls for upload-pack, pushes for
/// receive-pack (its advertisement included).
pub fn git_action(service: GitService) -> &'static str {
    match service {
        GitService::UploadPack => GIT_PULL,
        GitService::ReceivePack => GIT_PUSH,
    }
}

/// What a Git request asks for, whatever door it came through.
#[derive(Debug, Clone, Copy)]
pub struct GitAccess<'a> {
    /// The repository, in the caller's account.
    pub repo: &'a RepoName,
    /// upload-pack or receive-pack.
    pub service: GitService,
    /// Address, time and region of the request.
    pub facts: RequestFacts<'a>,
}

/// The refs one command of a push changes, as the repository holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefChain {
    /// The ref the command names.
    pub name: String,
    /// When that is a symbolic ref: every ref of its chain as receive-pack
    /// follows it, ending with the final target.
    pub symref_targets: Vec<String>,
    /// Refs that a case-insensitive repository stores in the same file as
    /// one of the above (and their chains).
    pub case_variants: Vec<String>,
}

impl RefChain {
    /// A ref that leads nowhere else.
    pub fn plain(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            symref_targets: Vec::new(),
            case_variants: Vec::new(),
        }
    }

    /// Every ref to decide, each with what the refusal says about how the
    /// command reaches it (nothing for the named ref itself).
    fn refs(&self) -> impl Iterator<Item = (&str, Option<String>)> {
        let name = &self.name;
        std::iter::once((name.as_str(), None))
            .chain(
                self.symref_targets
                    .iter()
                    .map(move |t| (t.as_str(), Some(format!("{name} is a symbolic ref to {t}")))),
            )
            .chain(self.case_variants.iter().map(move |t| {
                (
                    t.as_str(),
                    Some(format!(
                        "{name} is the same ref as {t} in this case-insensitive repository"
                    )),
                )
            }))
    }
}

/// One evaluation behind a decision.
#[derive(Debug)]
pub struct RefEvaluation {
    /// The ref the command names (`None` for pulls, advertisements and the
    /// push probe).
    pub command: Option<String>,
    /// The ref decided (`codecommit:References`): the command's own ref or
    /// one its symbolic ref leads to.
    pub decided: Option<String>,
    /// The evaluation.
    pub evaluation: Evaluation,
}

/// The access core's answer to a Git request.
#[derive(Debug)]
pub struct GitDecision {
    /// `codecommit:GitPull` or `codecommit:GitPush`.
    pub action: &'static str,
    /// The repository ARN.
    pub resource: String,
    /// The caller's ARN, for messages.
    principal: String,
    /// Every evaluation made, in order.
    pub evaluations: Vec<RefEvaluation>,
    /// The refs denied, with the reason git will print (empty: allowed).
    pub denied: Vec<RefDenial>,
    /// Refs the commands named, for the audit line.
    refs: Vec<String>,
    /// Refs changed through symbolic refs (beyond the named ones).
    via_symrefs: Vec<String>,
    /// Refs changed as case variants of the named ones.
    via_case: Vec<String>,
}

impl GitDecision {
    /// True when the request may go on.
    pub fn allowed(&self) -> bool {
        self.denied.is_empty()
    }

    /// The evaluation that explains the outcome: the first denial, or the
    /// first allowance.
    pub fn explaining(&self) -> Option<&Evaluation> {
        self.evaluations
            .iter()
            .map(|r| &r.evaluation)
            .find(|e| !e.decision.is_allowed())
            .or_else(|| self.evaluations.first().map(|r| &r.evaluation))
    }

    /// The text for a refused request that gets no ref report (a pull, an
    /// advertisement, the push probe), in AWS's words.
    pub fn refusal_message(&self) -> String {
        match self.explaining() {
            Some(e) => format!(
                "gitiam: {}",
                identity_denied(&self.principal, self.action, &self.resource, e)
            ),
            None => "gitiam: push denied".to_string(),
        }
    }

    /// The git-native answer refusing `push` (a report with every ref `ng`,
    /// or a text for clients without report-status).
    pub fn refusal(&self, push: &PushRequest) -> RefusalAnswer {
        refuse_push(push, &self.denied)
    }

    /// Writes the decision into the request's audit record.
    pub fn record(&self, record: &mut AuditRecord) {
        record.action = Some(self.action.to_string());
        record.resource = Some(self.resource.clone());
        record.refs.clone_from(&self.refs);
        record.symref_targets.clone_from(&self.via_symrefs);
        record.case_variants.clone_from(&self.via_case);
        if let Some(e) = self.explaining() {
            record.decision = Some(e.decision.as_str());
            if let Some(s) = e.deciding.first() {
                record.policy = Some(s.policy.clone());
                record.statement = Some(s.statement.clone());
            }
        }
    }

    fn new(caller: &Authenticated, access: &GitAccess<'_>) -> Self {
        let identity = caller.identity();
        Self {
            action: git_action(access.service),
            resource: repository_arn(
                access.facts.region,
                identity.account(),
                access.repo.as_str(),
            ),
            principal: identity.arn().to_string(),
            evaluations: Vec::new(),
            denied: Vec::new(),
            refs: Vec::new(),
            via_symrefs: Vec::new(),
            via_case: Vec::new(),
        }
    }
}

/// Decides a Git request that changes nothing: a pull (upload-pack, its
/// advertisement) or the advertisement of receive-pack.
pub fn decide(caller: &Authenticated, access: &GitAccess<'_>) -> GitDecision {
    let mut decision = GitDecision::new(caller, access);
    let context = caller_context(caller.identity(), &access.facts);
    let evaluation = evaluate_identity(caller, decision.action, &decision.resource, &context);
    if !evaluation.decision.is_allowed() {
        decision.denied.push(RefDenial {
            name: String::new(),
            reason: denial_reason(&evaluation),
        });
    }
    decision.evaluations.push(RefEvaluation {
        command: None,
        decided: None,
        evaluation,
    });
    decision
}

/// Decides a push: every ref of every command's chain (`chains[i]` belongs
/// to `push.commands[i]` and carries its name) must be allowed as a
/// `GitPush` with `codecommit:References` set to it. A push without
/// commands (the probe git sends before a large chunked push) is decided
/// without the key. Chains that do not match the commands deny everything:
/// the caller resolved something else than what is decided.
pub fn decide_push(
    caller: &Authenticated,
    access: &GitAccess<'_>,
    push: &PushRequest,
    chains: &[RefChain],
) -> GitDecision {
    let mut decision = GitDecision::new(
        caller,
        &GitAccess {
            service: GitService::ReceivePack,
            ..*access
        },
    );
    let context = caller_context(caller.identity(), &access.facts);
    decision.refs = push.commands.iter().map(|c| c.name.clone()).collect();
    if push.commands.is_empty() {
        let e = evaluate_identity(caller, GIT_PUSH, &decision.resource, &context);
        if !e.decision.is_allowed() {
            decision.denied.push(RefDenial {
                name: String::new(),
                reason: denial_reason(&e),
            });
        }
        decision.evaluations.push(RefEvaluation {
            command: None,
            decided: None,
            evaluation: e,
        });
        return decision;
    }
    let matches = chains.len() == push.commands.len()
        && push
            .commands
            .iter()
            .zip(chains)
            .all(|(c, chain)| chain.name == c.name);
    if !matches {
        decision.denied = push
            .commands
            .iter()
            .map(|c| RefDenial {
                name: c.name.clone(),
                reason: "push refused: the refs it changes could not be determined".into(),
            })
            .collect();
        return decision;
    }
    for (cmd, chain) in push.commands.iter().zip(chains) {
        for t in &chain.symref_targets {
            if !decision.via_symrefs.contains(t) {
                decision.via_symrefs.push(t.clone());
            }
        }
        for t in &chain.case_variants {
            if !decision.via_case.contains(t) {
                decision.via_case.push(t.clone());
            }
        }
        let mut denial = None;
        for (target, how) in chain.refs() {
            let mut ctx = context.clone();
            ctx.set(REFERENCES_KEY, vec![target.to_owned()]);
            let e = evaluate_identity(caller, GIT_PUSH, &decision.resource, &ctx);
            if denial.is_none() && !e.decision.is_allowed() {
                let mut reason = denial_reason(&e);
                if let Some(how) = how {
                    reason.push_str(&format!(" ({how})"));
                }
                denial = Some(RefDenial {
                    name: cmd.name.clone(),
                    reason,
                });
            }
            decision.evaluations.push(RefEvaluation {
                command: Some(cmd.name.clone()),
                decided: Some(target.to_owned()),
                evaluation: e,
            });
        }
        decision.denied.extend(denial);
    }
    decision
}
