//! One SSH connection: public-key authentication, then session channels
//! that may carry one exec request each (a Git command) and the
//! `GIT_PROTOCOL` variable. Everything else is refused: passwords and
//! keyboard-interactive (not offered), a PTY, X11, agent and port
//! forwarding, subsystems, other variables; a shell gets one line saying
//! who the caller is and a non-zero exit.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use russh::keys::{Certificate, PublicKey};
use russh::server::{Auth, ChannelOpenHandle, Handler, Msg, Session};
use russh::{Channel, ChannelId};

use super::auth::{self, KeyRefusal};
use super::bridge::{self, GitRequest};
use super::command::{self, GitCommand};
use super::error::{self, SshError};
use crate::server::access::Authenticated;
use crate::server::state::State;
use crate::server::throttle::Recorded;

/// Session channels one connection may open (git opens one; a multiplexed
/// client a few).
pub const MAX_CHANNELS: usize = 8;

/// What the connection task learns from the handler (read when the
/// connection ends, for the audit line of a failed login).
#[derive(Debug, Default)]
pub struct Outcome {
    /// The SSH user name of the last attempt.
    pub key_id: Option<String>,
    /// Why attempts were refused, in order, each reason once.
    pub refusals: Vec<KeyRefusal>,
    /// Authentication succeeded.
    pub authenticated: bool,
}

/// How the connection logged in, kept so that every command is checked
/// against the directory as it is then (a key removed by a reload stops
/// new commands on connections already open too).
enum Login {
    Key {
        user: String,
        key: PublicKey,
    },
    Certificate {
        user: String,
        cert: Box<Certificate>,
    },
}

/// A session channel before its exec request.
struct Pending {
    channel: Channel<Msg>,
    git_protocol: Option<String>,
}

/// The russh handler of one connection.
pub struct Connection {
    state: Arc<State>,
    peer: SocketAddr,
    caller: Option<Arc<Authenticated>>,
    login: Option<Login>,
    channels: HashMap<ChannelId, Pending>,
    opened: usize,
    outcome: Arc<Mutex<Outcome>>,
}

impl Connection {
    /// A handler for a connection from `peer`.
    pub fn new(state: Arc<State>, peer: SocketAddr, outcome: Arc<Mutex<Outcome>>) -> Self {
        Self {
            state,
            peer,
            caller: None,
            login: None,
            channels: HashMap::new(),
            opened: 0,
            outcome,
        }
    }

    fn note(&self, key_id: &str, refusal: Option<KeyRefusal>, authenticated: bool) {
        if let Ok(mut o) = self.outcome.lock() {
            o.key_id = Some(key_id.chars().take(64).collect());
            if let Some(r) = refusal
                && !o.refusals.contains(&r)
            {
                o.refusals.push(r);
            }
            o.authenticated = authenticated;
        }
    }

    /// Whether this client's address is blocked for failed logins (the
    /// same per-source limiter as HTTPS and STS): a blocked source is
    /// disconnected before any key is looked at.
    fn throttled(&self) -> bool {
        match self
            .state
            .auth_failures
            .check(self.peer.ip(), Instant::now())
        {
            Ok(()) => false,
            Err(blocked) => {
                if blocked.first {
                    tracing::warn!(peer = %self.peer, source = %blocked.source, "ssh login refused: source blocked for failed authentications");
                }
                true
            }
        }
    }

    /// Counts a refused login attempt against this client's address.
    fn failed(&self, refusal: KeyRefusal) {
        if let Recorded::Blocked(blocked) = self
            .state
            .auth_failures
            .record_failure(self.peer.ip(), Instant::now())
        {
            tracing::warn!(peer = %self.peer, source = %blocked.source, reason = %refusal, "source blocked for failed authentications");
        }
    }

    /// Binds a login whose signature russh verified: the caller every
    /// later command is decided for, and the login it is re-checked from.
    fn accepted(&mut self, caller: Authenticated, login: Login, label: &str) -> Auth {
        tracing::debug!(peer = %self.peer, credential = %label, principal = %caller.identity().arn(), "ssh authenticated");
        self.caller = Some(Arc::new(caller));
        self.login = Some(login);
        self.note(label, None, true);
        Auth::Accept
    }

    /// Refuses a login whose signature verified but whose key or
    /// certificate the directory does not accept, and counts the failure.
    fn refused(&mut self, user: &str, refusal: KeyRefusal, what: &str) -> Auth {
        tracing::debug!(peer = %self.peer, reason = %refusal, "ssh {what} refused");
        self.note(user, Some(refusal), false);
        self.failed(refusal);
        Auth::reject()
    }

    /// The caller as the directory says now: the login's key or certificate
    /// checked again (its signature was verified at login).
    fn current_caller(&self) -> Result<Arc<Authenticated>, SshError> {
        let directory = self.state.directory.load();
        let revoked = |r: KeyRefusal| SshError::LoginRevoked(r.to_string());
        let (identity, key_id, proof) = match &self.login {
            Some(Login::Key { user, key }) => {
                let (identity, proof) =
                    auth::verified_signature(&directory, user, key).map_err(revoked)?;
                (identity, user.clone(), proof)
            }
            Some(Login::Certificate { user, cert }) => auth::verified_certificate(
                &directory,
                user,
                cert,
                self.peer.ip(),
                SystemTime::now(),
            )
            .map_err(revoked)?,
            None => return Err(SshError::LoginRevoked("not logged in".into())),
        };
        Ok(Arc::new(auth::authenticated(identity, key_id, proof)))
    }

    /// Ends a channel that runs nothing with `error` and audits it.
    fn refuse_channel(&mut self, id: ChannelId, method: &str, path: &str, error: SshError) {
        let Some(pending) = self.channels.remove(&id) else {
            return;
        };
        let mut record = bridge::new_record(SystemTime::now(), self.peer, method, path);
        if let Some(caller) = &self.caller {
            record.ssh_key_id = Some(caller.access_key_id().to_owned());
            record.principal = Some(caller.identity().arn().to_string());
        }
        bridge::audit_refused(&self.state, record, &error);
        tokio::spawn(async move {
            let (_read, write) = pending.channel.split();
            error::finish_with(&write, &error).await;
        });
    }
}

impl Handler for Connection {
    type Error = russh::Error;

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        public_key: &PublicKey,
    ) -> Result<Auth, Self::Error> {
        if self.throttled() {
            return Err(russh::Error::Disconnect);
        }
        let directory = self.state.directory.load();
        // A certificate is offered as its bare key: it is checked once
        // its signature is (in `auth_openssh_certificate`).
        if auth::may_be_certificate_login(&directory, user) {
            return Ok(Auth::Accept);
        }
        match auth::check_offer(&directory, user, public_key) {
            Ok(_) => Ok(Auth::Accept),
            Err(refusal) => {
                tracing::debug!(peer = %self.peer, reason = %refusal, "ssh key refused");
                self.note(user, Some(refusal), false);
                // A client offers each of its keys in turn: a key that is
                // not this id's proves nothing wrong; a user name that
                // names no active key is a probe.
                if refusal != KeyRefusal::WrongKey {
                    self.failed(refusal);
                }
                Ok(Auth::reject())
            }
        }
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        public_key: &PublicKey,
    ) -> Result<Auth, Self::Error> {
        // russh calls this only after the signature over the session id
        // has been verified with `public_key`.
        if self.throttled() {
            return Err(russh::Error::Disconnect);
        }
        let directory = self.state.directory.load();
        match auth::verified_signature(&directory, user, public_key) {
            Ok((identity, proof)) => {
                let caller = auth::authenticated(identity, user.to_owned(), proof);
                let login = Login::Key {
                    user: user.to_owned(),
                    key: public_key.clone(),
                };
                Ok(self.accepted(caller, login, user))
            }
            Err(refusal) => Ok(self.refused(user, refusal, "key")),
        }
    }

    async fn auth_openssh_certificate(
        &mut self,
        user: &str,
        certificate: &Certificate,
    ) -> Result<Auth, Self::Error> {
        // russh calls this only after the signature over the session id
        // has been verified with the certificate's key.
        if self.throttled() {
            return Err(russh::Error::Disconnect);
        }
        let directory = self.state.directory.load();
        let verified = auth::verified_certificate(
            &directory,
            user,
            certificate,
            self.peer.ip(),
            SystemTime::now(),
        );
        match verified {
            Ok((identity, label, proof)) => {
                let caller = auth::authenticated(identity, label.clone(), proof);
                let login = Login::Certificate {
                    user: user.to_owned(),
                    cert: Box::new(certificate.clone()),
                };
                Ok(self.accepted(caller, login, &label))
            }
            Err(refusal) => Ok(self.refused(user, refusal, "certificate")),
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.caller.is_none() || self.opened >= MAX_CHANNELS {
            // Dropping the handle refuses the channel.
            return Ok(());
        }
        self.opened += 1;
        self.channels.insert(
            channel.id(),
            Pending {
                channel,
                git_protocol: None,
            },
        );
        reply.accept().await;
        Ok(())
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        variable_name: &str,
        variable_value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let accepted = variable_name == "GIT_PROTOCOL"
            && command::valid_git_protocol(variable_value.as_bytes());
        match self.channels.get_mut(&channel) {
            Some(p) if accepted => {
                p.git_protocol = Some(variable_value.to_owned());
                session.channel_success(channel)?;
            }
            _ => session.channel_failure(channel)?,
        }
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.caller.is_none() || !self.channels.contains_key(&channel) {
            session.channel_failure(channel)?;
            return Ok(());
        }
        // The request itself succeeds; a refusal is a message and an exit
        // status, which git shows to its user.
        session.channel_success(channel)?;
        let command: GitCommand = match command::parse(data) {
            Ok(c) => c,
            Err(e) => {
                let shown: String = String::from_utf8_lossy(data).chars().take(200).collect();
                self.refuse_channel(channel, "exec", &shown, SshError::Command(e));
                return Ok(());
            }
        };
        let caller = match self.current_caller() {
            Ok(c) => c,
            Err(e) => {
                let shown: String = String::from_utf8_lossy(data).chars().take(200).collect();
                self.refuse_channel(channel, "exec", &shown, e);
                return Ok(());
            }
        };
        let Some(pending) = self.channels.remove(&channel) else {
            return Ok(());
        };
        let request = GitRequest {
            state: Arc::clone(&self.state),
            caller,
            peer: self.peer,
            command,
            git_protocol: pending.git_protocol,
        };
        tokio::spawn(bridge::run(request, pending.channel));
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(arn) = self.caller.as_ref().map(|c| c.identity().arn().to_string()) else {
            session.channel_failure(channel)?;
            return Ok(());
        };
        session.channel_success(channel)?;
        self.refuse_channel(channel, "shell", "", SshError::Shell { arn });
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _x11_auth_protocol: &str,
        _x11_auth_cookie: &str,
        _x11_screen_number: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.remove(&channel);
        Ok(())
    }
}
