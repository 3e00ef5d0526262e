//! The one writer thread behind an embedded store, committing in groups.
//!
//! Callers send their job and wait; the thread takes whatever has queued
//! up (at most [`MAX_GROUP`]) and hands the group to the backend, which
//! makes it durable once for all of them (one fsync or flush), and only then
//! answers every caller — itself, or from a thread of its own that makes
//! the group durable while the writer goes on with the next one
//! ([`GroupWriter::write_and_answer`]). Store writes so never run on the
//! async workers, and concurrent messages share the cost of durability.

use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use super::{Changes, InboxItem, OutboxUpdate};
use crate::error::{Error, Result};
use crate::session::SaveOutcome;

/// How many queued jobs one group takes at most.
const MAX_GROUP: usize = 256;

/// How long the writer waits for a job before it tells the backend it is
/// idle ([`GroupWriter::idle`]).
const IDLE: Duration = Duration::from_secs(1);

/// Where a caller hears the result of its job.
pub(super) type Reply = oneshot::Sender<Result<Done>>;

/// Answers each caller with its job's result, in order.
pub(super) fn answer(replies: Vec<Reply>, results: Vec<Result<Done>>) {
    for (reply, result) in replies.into_iter().zip(results) {
        // A caller that gave up waiting is no error.
        let _ = reply.send(result);
    }
}

/// A write a caller waits for.
pub(super) enum Job {
    /// Apply a change set (compare-and-swap on its session).
    Commit(Box<Commit>),
    /// Hand out the next number of a sequence.
    Next(String),
    /// Record delivery outcomes.
    Outbox(Vec<OutboxUpdate>),
    /// Accept inbound messages, deduplicated.
    Accept(Vec<InboxItem>),
    /// Forget provider ids accepted before a time.
    Forget(u64),
}

/// A change set, and what a backend that stores records as bytes may have
/// encoded of it on the caller's side, so that the one writer thread does
/// not spend its time encoding.
pub(super) struct Commit {
    pub(super) changes: Changes,
    pub(super) encoded: Option<Encoded>,
}

/// Records of a change set, encoded before they reach the writer: its
/// transcript lines and outbox messages, in order, its session as it is
/// saved (at the version after the one it was read at), and the change set
/// as a log record's payload (empty: encoded by the writer).
pub(super) struct Encoded {
    pub(super) record: Vec<u8>,
    pub(super) transcript: Vec<Vec<u8>>,
    pub(super) outbox: Vec<Vec<u8>>,
    pub(super) session: Option<Vec<u8>>,
}

/// The result of one job.
pub(super) enum Done {
    /// A commit's outcome.
    Saved(SaveOutcome),
    /// A sequence number.
    Number(u64),
    /// Delivery outcomes recorded.
    Acked,
    /// Inbox ids of accepted items (`None`: a duplicate).
    Accepted(Vec<Option<u64>>),
}

/// What a backend does with a group: apply every job and make the whole
/// group durable, returning one result per job, in order. The jobs are the
/// backend's to take from (a session moved into memory instead of cloned).
pub(super) trait GroupWriter: Send + 'static {
    fn write_group(&mut self, jobs: &mut [Job]) -> Vec<Result<Done>>;

    /// Writes a group and answers its callers once it is durable: by
    /// default as soon as [`GroupWriter::write_group`] returns. A backend
    /// that makes groups durable on a thread of its own, while the writer
    /// goes on with the next group, hands the replies over instead.
    fn write_and_answer(&mut self, jobs: &mut [Job], replies: Vec<Reply>) {
        let results = self.write_group(jobs);
        answer(replies, results);
    }

    /// No job came for [`IDLE`]: a moment for housekeeping.
    fn idle(&mut self) {}

    /// Every handle is gone and every queued job written: the last call.
    fn finish(&mut self) {}
}

/// The handle callers use; cheap to clone. Dropping the last one waits
/// for the thread to finish what was queued and the backend's
/// [`GroupWriter::finish`], so that the data folder is closed (and can be
/// opened again) when the store is gone.
#[derive(Clone)]
pub(super) struct Writer {
    tx: mpsc::Sender<(Job, Reply)>,
    /// Dropped after `tx` (fields drop in order): by the time the last
    /// handle joins the thread, no sender is left to keep it waiting.
    _thread: Arc<Joined>,
}

/// The writer thread, joined when the last handle goes.
struct Joined(Option<JoinHandle<()>>);

impl Drop for Joined {
    fn drop(&mut self) {
        // Never the writer thread itself: it holds no handle.
        if let Some(thread) = self.0.take()
            && thread.thread().id() != std::thread::current().id()
            && thread.join().is_err()
        {
            tracing::error!(target: "layan_core::store", "the store's writer thread panicked");
        }
    }
}

fn stopped() -> Error {
    Error::Store("the writer thread has stopped".to_owned())
}

impl Writer {
    /// Starts the writer thread `name` around `backend`.
    pub(super) fn spawn(name: &str, mut backend: impl GroupWriter) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<(Job, Reply)>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                loop {
                    let first = match rx.recv_timeout(IDLE) {
                        Ok(job) => job,
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            backend.idle();
                            continue;
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    };
                    let mut group = vec![first];
                    while group.len() < MAX_GROUP {
                        match rx.try_recv() {
                            Ok(job) => group.push(job),
                            Err(_) => break,
                        }
                    }
                    let (mut jobs, replies): (Vec<Job>, Vec<_>) = group.into_iter().unzip();
                    backend.write_and_answer(&mut jobs, replies);
                }
                backend.finish();
            })
            .map_err(|e| Error::Store(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            tx,
            _thread: Arc::new(Joined(Some(thread))),
        })
    }

    async fn run(&self, job: Job) -> Result<Done> {
        let (tx, rx) = oneshot::channel();
        self.tx.send((job, tx)).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    pub(super) async fn commit(
        &self,
        changes: Changes,
        encoded: Option<Encoded>,
    ) -> Result<SaveOutcome> {
        let job = Job::Commit(Box::new(Commit { changes, encoded }));
        match self.run(job).await? {
            Done::Saved(o) => Ok(o),
            _ => Err(Error::Store("internal: mismatched reply".to_owned())),
        }
    }

    pub(super) async fn next_number(&self, name: String) -> Result<u64> {
        match self.run(Job::Next(name)).await? {
            Done::Number(n) => Ok(n),
            _ => Err(Error::Store("internal: mismatched reply".to_owned())),
        }
    }

    pub(super) async fn update_outbox(&self, updates: Vec<OutboxUpdate>) -> Result<()> {
        match self.run(Job::Outbox(updates)).await? {
            Done::Acked => Ok(()),
            _ => Err(Error::Store("internal: mismatched reply".to_owned())),
        }
    }

    pub(super) async fn accept(&self, items: Vec<InboxItem>) -> Result<Vec<Option<u64>>> {
        match self.run(Job::Accept(items)).await? {
            Done::Accepted(ids) => Ok(ids),
            _ => Err(Error::Store("internal: mismatched reply".to_owned())),
        }
    }

    pub(super) async fn forget(&self, before_ms: u64) -> Result<u64> {
        match self.run(Job::Forget(before_ms)).await? {
            Done::Number(n) => Ok(n),
            _ => Err(Error::Store("internal: mismatched reply".to_owned())),
        }
    }
}
