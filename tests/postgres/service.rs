//! Finding Postgres for the tests: the shared server at `DATABASE_URL` (what `.ci/services.sh`
//! starts), or a throwaway cluster of a test's own (initdb into a temp dir, `pg_ctl start` on a
//! free loopback port) for the tests that stop and restart the server.
//!
//! Without `DATABASE_URL` (or without `initdb` for an own cluster) a test prints a loud SKIPPED
//! line and passes; under `CI=true` it fails instead.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use chathooks::idempotency::ClaimToken;
use chathooks::postgres::PostgresPool;

/// Print past the test harness's output capture, so a skip shows even when the test passes.
pub fn loud(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n********** {message} **********\n");
}

fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// `DATABASE_URL`, or `None` after a loud SKIPPED line. With `CI=true` a missing URL fails.
pub fn database_url(test: &str) -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                !ci(),
                "{test}: DATABASE_URL is not set and CI=true: Postgres tests must run in CI \
                 (run `source .ci/services.sh` first)"
            );
            loud(&format!(
                "SKIPPED {test}: DATABASE_URL is not set (run `source .ci/services.sh`)"
            ));
            None
        }
    }
}

/// A pool on `DATABASE_URL` whose tables live in a schema of this test's own, dropped and
/// migrated afresh, so tests that lease "any due entry" never see another test's rows.
pub async fn fresh_schema_pool(test: &str) -> Option<PostgresPool> {
    let url = database_url(test)?;
    let schema = schema_name(test);
    drop_schema(&url, &schema).await;
    let pool = PostgresPool::options(&url)
        .unwrap()
        .schema(schema)
        .connect()
        .await
        .expect("DATABASE_URL is set but Postgres cannot be reached");
    pool.migrate().await.unwrap();
    Some(pool)
}

/// A schema name for `test`: lowercase, at most 63 bytes, unique per test name.
pub fn schema_name(test: &str) -> String {
    let mut name: String = format!("chathooks_t_{test}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if name.len() > 63 {
        // Keep it unique: the tail of a long test name carries the difference.
        name = format!("{}_{}", &name[..40], &name[name.len() - 22..]);
    }
    name
}

/// `DROP SCHEMA … CASCADE` through psql-free means: a raw tokio-postgres connection.
pub async fn drop_schema(url: &str, schema: &str) {
    sql(url, &format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")).await;
}

/// Run `statements` on `url` with a plain connection (tests only).
pub async fn sql(url: &str, statements: &str) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect for test SQL");
    let task = tokio::spawn(conn);
    client.batch_execute(statements).await.expect(statements);
    drop(client);
    let _ = task.await;
}

/// Rows of `query` on `url` as text (tests only).
pub async fn query_text(url: &str, query: &str) -> Vec<Vec<Option<String>>> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect for test SQL");
    let task = tokio::spawn(conn);
    let mut out = Vec::new();
    for msg in client.simple_query(query).await.expect(query) {
        if let tokio_postgres::SimpleQueryMessage::Row(row) = msg {
            out.push(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_owned))
                    .collect(),
            );
        }
    }
    drop(client);
    let _ = task.await;
    out
}

/// The directory holding `initdb` and `pg_ctl`: `CHATHOOKS_PG_BINDIR`, PATH, or the newest
/// `/usr/lib/postgresql/*/bin` (Debian keeps them off PATH).
pub fn bindir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("CHATHOOKS_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        if dir.join("initdb").exists() {
            return Some(dir);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let initdb = dir.join("initdb");
            if initdb.exists() && dir.join("pg_ctl").exists() {
                let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
                return real.parent().map(Path::to_path_buf);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A throwaway Postgres cluster of this test's own, on 127.0.0.1 and a free port; stopped
/// (`-m immediate`) and deleted when dropped.
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_root: bool,
}

impl Cluster {
    /// Start one, or `None` after a loud SKIPPED line when `initdb` is not installed (a
    /// failure under `CI=true`).
    pub fn start(test: &str) -> Option<Cluster> {
        let Some(bin) = bindir() else {
            assert!(
                !ci(),
                "{test}: initdb/pg_ctl not found and CI=true (run `source .ci/services.sh`)"
            );
            loud(&format!(
                "SKIPPED {test}: PostgreSQL's initdb is not installed"
            ));
            return None;
        };
        let dir = std::env::temp_dir().join(format!(
            "chathooks-test-pg-{}",
            &ClaimToken::generate().to_hex()[..12]
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let as_root = running_as_root();
        let mut cluster = Cluster {
            bin,
            dir,
            port: 0,
            as_root,
        };
        if as_root {
            // PostgreSQL refuses to run as root: hand the directory to its system user.
            let ok = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(&cluster.dir)
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                ok,
                "chown to the postgres user failed (does the user exist?)"
            );
        }
        let data = cluster.data();
        let out = cluster.pg("initdb", |c| {
            c.arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    "chathooks",
                    "--auth=trust",
                    "--no-sync",
                    "--no-locale",
                ])
                .args(["--encoding=UTF8"]);
        });
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.port = free_port();
        cluster.start_server();
        Some(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn pg(&self, tool: &str, args: impl FnOnce(&mut Command)) -> Output {
        let mut cmd = if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(tool));
            c
        } else {
            Command::new(self.bin.join(tool))
        };
        args(&mut cmd);
        cmd.stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{tool}: {e}"))
    }

    fn pg_ctl(&self, action: &str, extra: &[&str]) -> Output {
        let data = self.data();
        let log = self.dir.join("server.log");
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} -c max_connections=100",
            self.port,
            self.dir.display()
        );
        self.pg("pg_ctl", |c| {
            c.arg("-D").arg(&data).arg("-l").arg(&log);
            c.args(["-w", "-t", "30", "-o", &opts])
                .args(extra)
                .arg(action);
        })
    }

    fn start_server(&self) {
        let out = self.pg_ctl("start", &[]);
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
        );
    }

    /// The URL of the `postgres` database as the superuser `chathooks`.
    pub fn url(&self) -> String {
        format!("postgres://chathooks@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl stop -m immediate`: every backend is killed at once, like a crash.
    pub fn stop_immediate(&self) {
        let out = self.pg_ctl("stop", &["-m", "immediate"]);
        assert!(out.status.success(), "pg_ctl stop failed");
    }

    /// `pg_ctl restart -m immediate` (every backend killed at once, then crash recovery),
    /// waiting until it accepts connections again; returns how long that took. (Used by the
    /// crash test, which needs axum.)
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub fn restart_immediate(&self) -> std::time::Duration {
        let started = std::time::Instant::now();
        let out = self.pg_ctl("restart", &["-m", "immediate"]);
        assert!(
            out.status.success(),
            "pg_ctl restart failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        started.elapsed()
    }

    /// Start it again after [`stop_immediate`](Self::stop_immediate) (crash recovery runs).
    pub fn start_again(&self) {
        self.start_server();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.pg_ctl("stop", &["-m", "immediate"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
