//! A small pool of PostgreSQL connections, each with its own cache of prepared statements.
//!
//! Why our own and not `deadpool-postgres` or `sqlx`: the store needs four things from a pool (a
//! bound on connections, per-connection setup, dropping broken connections, a statement cache),
//! which is this one file over `tokio-postgres`. `sqlx` brings its own driver, query layer and a
//! much larger build for features we do not use; `deadpool-postgres` would save little code and
//! add two crates. `tokio-postgres` itself is the lean part: no TLS, no macros.
//!
//! Cancellation: a request future may be dropped at any await (client gone). `tokio-postgres`
//! rolls back a transaction whose handle is dropped (and one whose `BEGIN` was in flight) by
//! queueing a `ROLLBACK` before anything the next user sends, so a connection can always go back
//! to the pool; a connection whose socket died is noticed (`is_closed`) and discarded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use fieldproof_store::{StoreError, StoreResult};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, GenericClient, NoTls, Row, Statement};

/// Statements kept per connection before the cache starts over. The store's SQL is a fixed set
/// plus list queries whose text depends on which filters are given: a few hundred at most.
const MAX_STATEMENTS: usize = 512;

/// How long a new connection may take when the URL does not say (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) type Params<'a> = [&'a (dyn ToSql + Sync)];

/// One connection and the statements prepared on it.
pub(crate) struct Conn {
    pub client: Client,
    pub statements: Statements,
}

/// Prepared statements by SQL text. Preparing costs a round trip, so each statement is prepared
/// once per connection and then only bound and executed.
#[derive(Default)]
pub(crate) struct Statements(HashMap<String, Statement>);

impl Statements {
    pub async fn get(
        &mut self,
        client: &(impl GenericClient + Sync),
        sql: &str,
    ) -> Result<Statement, tokio_postgres::Error> {
        if let Some(s) = self.0.get(sql) {
            return Ok(s.clone());
        }
        let s = client.prepare(sql).await?;
        if self.0.len() >= MAX_STATEMENTS {
            self.0.clear();
        }
        self.0.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

/// A client (the connection or an open transaction on it) with the connection's statement cache:
/// what the per-resource modules run their SQL through.
pub(crate) struct Db<'a, C> {
    pub client: &'a C,
    pub statements: &'a mut Statements,
}

impl<C: GenericClient + Sync> Db<'_, C> {
    pub async fn query(
        &mut self,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let s = self.statements.get(self.client, sql).await?;
        self.client.query(&s, params).await
    }

    pub async fn query_opt(
        &mut self,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<Option<Row>, tokio_postgres::Error> {
        let s = self.statements.get(self.client, sql).await?;
        self.client.query_opt(&s, params).await
    }

    pub async fn query_one(
        &mut self,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<Row, tokio_postgres::Error> {
        let s = self.statements.get(self.client, sql).await?;
        self.client.query_one(&s, params).await
    }

    pub async fn execute(
        &mut self,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<u64, tokio_postgres::Error> {
        let s = self.statements.get(self.client, sql).await?;
        self.client.execute(&s, params).await
    }
}

impl Conn {
    /// Opens a connection and sets it up. `target` names the server and database (never the
    /// password) for the error message.
    pub async fn open(config: &Config, target: &str) -> StoreResult<Self> {
        let (client, connection) = config.connect(NoTls).await.map_err(|e| {
            StoreError::Backend(format!(
                "cannot connect to PostgreSQL at {target}: {}; check that the server runs and \
                 that the URL's host, port, user and database are right",
                crate::error::describe(&e)
            ))
        })?;
        // The connection future does the socket I/O for the client; it ends when the client is
        // dropped or the socket fails (then `client.is_closed()` turns true).
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "PostgreSQL connection closed");
            }
        });
        // The default, set anyway: a write is acknowledged only once its commit record is
        // flushed, so a server that set it off for everyone does not silently weaken us.
        client
            .batch_execute("SET synchronous_commit TO on")
            .await
            .map_err(crate::error::backend)?;
        Ok(Self {
            client,
            statements: Statements::default(),
        })
    }

    pub fn db(&mut self) -> Db<'_, Client> {
        Db {
            client: &self.client,
            statements: &mut self.statements,
        }
    }
}

pub(crate) struct Pool {
    config: Config,
    target: String,
    idle: Mutex<Vec<Conn>>,
    /// One permit per connection that may be open: bounds what the store asks of the server.
    permits: Semaphore,
}

impl Pool {
    /// A pool of at most `size` connections to `config`, opened on demand. `target` names the
    /// server and database (never the password) in error messages.
    pub fn new(mut config: Config, target: String, size: usize) -> Self {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("fieldproof");
        }
        Self {
            config,
            target,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(size.max(1)),
        }
    }

    /// A connection for the caller alone until the guard is dropped; waits while all are busy.
    pub async fn get(&self) -> StoreResult<Pooled<'_>> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Backend("the PostgreSQL pool is closed".into()))?;
        let idle = {
            let mut idle = self.idle.lock().expect("pool lock");
            std::iter::from_fn(|| idle.pop()).find(|c| !c.client.is_closed())
        };
        let conn = match idle {
            Some(conn) => conn,
            None => Conn::open(&self.config, &self.target).await?,
        };
        Ok(Pooled {
            conn: Some(conn),
            pool: self,
            _permit: permit,
        })
    }
}

/// A connection lent by the pool; goes back when dropped, unless it broke.
pub(crate) struct Pooled<'a> {
    conn: Option<Conn>,
    pool: &'a Pool,
    // Declared after `conn` and released only after `drop` has put the connection back, so a
    // waiter woken by the permit finds it idle.
    _permit: SemaphorePermit<'a>,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn.as_ref().expect("present until drop")
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("present until drop")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            if !conn.client.is_closed() {
                self.pool.idle.lock().expect("pool lock").push(conn);
            }
        }
    }
}
