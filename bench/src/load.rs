//! A bounded, local HTTP/1.1 load generator: a fixed number of keep-alive connections, each sending
//! one request at a time (closed loop) for a fixed duration, recording the latency of every request.
//!
//! One OS thread per connection with blocking sockets; responses are parsed by `httparse`. Why not a
//! client library or a load tool: the harness is built without optimisation, and there a client's
//! own CPU distorts single-connection latencies and takes CPU from workerd on a 2-core machine.
//! Measured against a local server, one connection, unoptimised build: ureq ~85 µs of CPU per
//! request (p50 94 µs), tokio + hyper ~140 µs, this loop 10–14 µs (p50 18–22 µs; `httparse` is
//! optimised even in dev builds, see the root Cargo.toml). And the benchmark needs what load tools
//! do not give: a pool of 10,000 tokens sent round robin, and runs of one second that alternate
//! between Workers and combine into one result (`Summary::combine`). It only speaks what the
//! benchmark needs: `GET`, responses framed by `Content-Length` or chunked encoding. Targets are
//! always 127.0.0.1: the type takes a port, never a host.

use anyhow::{bail, Context as _, Result};
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A request that takes longer than this counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the load goes: a path on a local port.
#[derive(Debug, Clone)]
pub struct Target {
    pub port: u16,
    pub path: String,
}

impl Target {
    fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }
}

/// How much load, for how long.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub connections: usize,
    /// Requests started before this has passed are sent but not measured.
    pub warmup: Duration,
    pub measure: Duration,
}

/// What one run measured. Only 2xx responses contribute latencies; anything else is counted.
#[derive(Debug, Clone)]
pub struct Summary {
    /// 2xx answers to requests started in the measured window.
    pub requests: u64,
    /// 2xx answers over the whole run, warm-up included (for CPU time per request).
    pub completed: u64,
    pub per_sec: f64,
    pub p50: Duration,
    pub p99: Duration,
    /// Non-2xx responses and failed requests (connection errors, timeouts), warm-up included.
    pub errors: u64,
    /// The first error seen, for the report.
    pub first_error: Option<String>,
    /// The measured window's latencies, sorted, and its length: what [`Summary::combine`] needs.
    pub latencies_us: Vec<u32>,
    pub measured: Duration,
}

impl Summary {
    pub fn is_valid(&self) -> bool {
        self.errors == 0 && self.requests > 0
    }

    /// One summary of runs of the same scenario measured one after another (slices): the rate over
    /// their total measured time, the percentiles over all their latencies, every error counted.
    pub fn combine(parts: Vec<Summary>) -> Summary {
        let measured = parts.iter().map(|p| p.measured).sum::<Duration>();
        let mut latencies = Vec::new();
        let (mut completed, mut errors, mut first_error) = (0, 0, None);
        for p in parts {
            latencies.extend(p.latencies_us);
            completed += p.completed;
            errors += p.errors;
            first_error = first_error.or(p.first_error);
        }
        latencies.sort_unstable();
        summary(latencies, completed, errors, first_error, measured)
    }
}

#[derive(Debug, Default)]
struct ConnStats {
    latencies_us: Vec<u32>,
    completed: u64,
    errors: u64,
    first_error: Option<String>,
}

impl ConnStats {
    fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    from: Instant,
    until: Instant,
}

/// Drives `target` with `plan`, each request carrying the next `Authorization` value of
/// `credentials` in turn (round robin over all connections, so a pool of N tokens repeats each one
/// every N requests). Fails with "interrupted" when `stop` is raised.
pub fn run(
    target: &Target,
    credentials: &Arc<Vec<String>>,
    plan: Plan,
    stop: &Arc<AtomicBool>,
) -> Result<Summary> {
    let start = Instant::now();
    let window = Window {
        from: start + plan.warmup,
        until: start + plan.warmup + plan.measure,
    };
    let sequence = Sequence {
        first: 0,
        end: usize::MAX,
    };
    let all = drive(
        target,
        credentials,
        plan.connections,
        window,
        sequence,
        stop,
    )?;
    Ok(summarise(all, plan.measure))
}

/// Sends exactly `requests` requests over `connections` connections (each measured), starting at
/// credential `first` of the pool: a fixed amount of work, for counts that do not depend on how
/// fast the machine is (`--instructions`, where workerd runs ~50x slower under valgrind).
pub fn run_count(
    target: &Target,
    credentials: &Arc<Vec<String>>,
    connections: usize,
    requests: usize,
    first: usize,
    stop: &Arc<AtomicBool>,
) -> Result<Summary> {
    let start = Instant::now();
    // No deadline: the budget ends the run (REQUEST_TIMEOUT still bounds each request).
    let window = Window {
        from: start,
        until: start + Duration::from_secs(24 * 3600),
    };
    let sequence = Sequence {
        first,
        end: requests,
    };
    let all = drive(target, credentials, connections, window, sequence, stop)?;
    Ok(summarise(all, start.elapsed()))
}

/// Which requests a run sends: request `i` (counted over all connections) carries credential
/// `first + i` of the pool; requests from `end` on are not sent.
#[derive(Debug, Clone, Copy)]
struct Sequence {
    first: usize,
    end: usize,
}

fn drive(
    target: &Target,
    credentials: &Arc<Vec<String>>,
    connections: usize,
    window: Window,
    sequence: Sequence,
    stop: &Arc<AtomicBool>,
) -> Result<Vec<ConnStats>> {
    anyhow::ensure!(connections > 0, "at least one connection is needed");
    anyhow::ensure!(!credentials.is_empty(), "no credentials to send");
    let next = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..connections)
        .map(|_| {
            let (target, credentials, next, stop) = (
                target.clone(),
                credentials.clone(),
                next.clone(),
                stop.clone(),
            );
            std::thread::spawn(move || {
                connection(&target, &credentials, &next, sequence, window, &stop)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(connections);
    for t in threads {
        all.push(
            t.join()
                .map_err(|_| anyhow::anyhow!("a load generator connection panicked"))?,
        );
    }
    if stop.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(all)
}

/// One keep-alive connection in a closed loop; reconnects after a failure or a `Connection: close`.
fn connection(
    target: &Target,
    credentials: &[String],
    next: &AtomicUsize,
    sequence: Sequence,
    window: Window,
    stop: &AtomicBool,
) -> ConnStats {
    let mut stats = ConnStats::default();
    let mut stream: Option<TcpStream> = None;
    let head = format!(
        "GET {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: ",
        target.path, target.port
    );
    let mut request = Vec::with_capacity(1024);
    let mut response = Vec::with_capacity(4096);
    while Instant::now() < window.until && !stop.load(Ordering::Relaxed) {
        let conn = match stream.as_mut() {
            Some(s) => s,
            None => match connect(target.addr()) {
                Ok(s) => stream.insert(s),
                Err(e) => {
                    stats.error(format!("connect: {e:#}"));
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            },
        };
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= sequence.end {
            break;
        }
        let credential = &credentials[sequence.first.wrapping_add(i) % credentials.len()];
        request.clear();
        request.extend_from_slice(head.as_bytes());
        request.extend_from_slice(credential.as_bytes());
        request.extend_from_slice(b"\r\n\r\n");
        let started = Instant::now();
        let outcome = exchange(conn, &request, &mut response);
        let latency = started.elapsed();
        match outcome {
            Ok(answer) => {
                if answer.close {
                    stream = None;
                }
                if (200..300).contains(&answer.status) {
                    stats.completed += 1;
                    if started >= window.from {
                        stats
                            .latencies_us
                            .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
                    }
                } else {
                    let body = response.get(answer.body).unwrap_or_default();
                    let body = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                    stats.error(format!("status {}: {body}", answer.status));
                }
            }
            Err(e) => {
                stats.error(format!("request: {e:#}"));
                stream = None;
            }
        }
    }
    stats
}

fn connect(addr: SocketAddr) -> Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    Ok(stream)
}

/// Sends one request and reads its whole response into `buf`.
fn exchange(stream: &mut TcpStream, request: &[u8], buf: &mut Vec<u8>) -> Result<Answer> {
    stream.write_all(request).context("writing")?;
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(answer) = parse_response(buf)? {
            if answer.consumed != buf.len() {
                bail!("unexpected bytes after the response");
            }
            return Ok(answer);
        }
        let n = stream.read(&mut chunk).context("reading")?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A complete response found at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    /// Where the body is (for chunked responses: the chunk data with its framing).
    body: std::ops::Range<usize>,
    /// Bytes the response takes in the buffer.
    consumed: usize,
    /// The server will close the connection after it.
    close: bool,
}

/// Headers a response may carry; workerd sends a handful.
const MAX_HEADERS: usize = 32;

/// `Ok(None)` while the response is incomplete. The head and the chunk sizes are parsed by
/// `httparse` (hyper's parser); the framing of the body is ours.
fn parse_response(buf: &[u8]) -> Result<Option<Answer>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut head = httparse::Response::new(&mut headers);
    let body_start = match head.parse(buf).context("a malformed response head")? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Ok(None),
    };
    let status = head.code.context("a response without a status")?;
    let (mut length, mut chunked, mut close) = (None, false, head.version == Some(0));
    for h in head.headers.iter() {
        let value = std::str::from_utf8(h.value).context("a header value is not UTF-8")?;
        if h.name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .trim()
                    .parse::<usize>()
                    .context("bad content-length")?,
            );
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.trim().eq_ignore_ascii_case("chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            close = value.trim().eq_ignore_ascii_case("close");
        }
    }
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(Some(Answer {
            status,
            body: body_start..body_start,
            consumed: body_start,
            close,
        }));
    }
    let body_end = if chunked {
        match chunked_end(buf, body_start)? {
            Some(end) => end,
            None => return Ok(None),
        }
    } else if let Some(length) = length {
        if buf.len() < body_start + length {
            return Ok(None);
        }
        body_start + length
    } else {
        bail!("a response with neither content-length nor chunked encoding");
    };
    Ok(Some(Answer {
        status,
        body: body_start..body_end,
        consumed: body_end,
        close,
    }))
}

/// The end of a chunked body that starts at `at`, once it is all in `buf` (trailers not supported).
fn chunked_end(buf: &[u8], mut at: usize) -> Result<Option<usize>> {
    loop {
        let rest = buf.get(at..).unwrap_or_default();
        let (size_line, size) = match httparse::parse_chunk_size(rest)
            .map_err(|_| anyhow::anyhow!("bad chunk size"))?
        {
            httparse::Status::Complete(found) => found,
            httparse::Status::Partial => return Ok(None),
        };
        let data_start = at + size_line;
        let size = usize::try_from(size)?;
        if size == 0 {
            // The last chunk, then the empty line that ends the (absent) trailers.
            return Ok((buf.len() >= data_start + 2).then_some(data_start + 2));
        }
        if buf.len() < data_start + size + 2 {
            return Ok(None);
        }
        at = data_start + size + 2;
    }
}

fn summarise(stats: Vec<ConnStats>, measured: Duration) -> Summary {
    let mut latencies: Vec<u32> = Vec::new();
    let mut errors = 0;
    let mut completed = 0;
    let mut first_error = None;
    for s in stats {
        latencies.extend(s.latencies_us);
        completed += s.completed;
        errors += s.errors;
        if first_error.is_none() {
            first_error = s.first_error;
        }
    }
    latencies.sort_unstable();
    summary(latencies, completed, errors, first_error, measured)
}

fn summary(
    sorted_us: Vec<u32>,
    completed: u64,
    errors: u64,
    first_error: Option<String>,
    measured: Duration,
) -> Summary {
    let requests = sorted_us.len() as u64;
    Summary {
        requests,
        completed,
        per_sec: requests as f64 / measured.as_secs_f64(),
        p50: percentile(&sorted_us, 50.0),
        p99: percentile(&sorted_us, 99.0),
        errors,
        first_error,
        latencies_us: sorted_us,
        measured,
    }
}

/// The nearest-rank percentile of sorted microsecond latencies.
fn percentile(sorted_us: &[u32], p: f64) -> Duration {
    if sorted_us.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    let i = rank.clamp(1, sorted_us.len()) - 1;
    Duration::from_micros(u64::from(sorted_us[i]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead as _;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_micros(50));
        assert_eq!(percentile(&v, 99.0), Duration::from_micros(99));
        assert_eq!(percentile(&[7], 99.0), Duration::from_micros(7));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn a_run_with_any_error_is_invalid() {
        let s = summarise(
            vec![ConnStats {
                latencies_us: vec![10, 20],
                completed: 3,
                errors: 1,
                first_error: Some("status 401".into()),
            }],
            Duration::from_secs(1),
        );
        assert!(!s.is_valid());
        assert_eq!((s.requests, s.completed), (2, 3));
    }

    #[test]
    fn slices_combine_into_one_rate_over_their_time_and_percentiles_over_all_latencies() {
        let slice = |latencies_us: Vec<u32>, errors, first: Option<&str>| {
            summarise(
                vec![ConnStats {
                    completed: latencies_us.len() as u64 + 5,
                    latencies_us,
                    errors,
                    first_error: first.map(str::to_owned),
                }],
                Duration::from_secs(1),
            )
        };
        let fast = slice((1..=30).collect(), 0, None);
        let slow = slice((101..=110).collect(), 2, Some("status 503"));
        let both = Summary::combine(vec![fast, slow]);
        assert_eq!((both.requests, both.completed, both.errors), (40, 50, 2));
        assert_eq!(both.per_sec, 20.0, "40 requests over 2 s");
        assert_eq!(both.p50, Duration::from_micros(20));
        assert_eq!(both.p99, Duration::from_micros(110));
        assert_eq!(both.first_error.as_deref(), Some("status 503"));
        assert!(!both.is_valid());
    }

    #[test]
    fn a_content_length_response_is_complete_only_with_its_whole_body() {
        let full = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: b\r\n\r\nok\n";
        let answer = parse_response(full).unwrap().unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(&full[answer.body.clone()], b"ok\n");
        assert_eq!(answer.consumed, full.len());
        assert!(!answer.close);
        for cut in 0..full.len() {
            assert_eq!(parse_response(&full[..cut]).unwrap(), None, "cut at {cut}");
        }
    }

    #[test]
    fn a_chunked_response_ends_at_the_last_chunk() {
        let full = b"HTTP/1.1 401 Unauthorized\r\ntransfer-encoding: chunked\r\nConnection: close\r\n\r\n4\r\nabcd\r\n2;x=y\r\nef\r\n0\r\n\r\n";
        let answer = parse_response(full).unwrap().unwrap();
        assert_eq!(answer.status, 401);
        assert_eq!(answer.consumed, full.len());
        assert!(answer.close);
        for cut in 0..full.len() {
            assert_eq!(parse_response(&full[..cut]).unwrap(), None, "cut at {cut}");
        }
    }

    #[test]
    fn malformed_responses_are_errors() {
        assert!(parse_response(b"HTTP/1.1 2x0 OK\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
        let no_body = parse_response(b"HTTP/1.1 204 No Content\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(no_body.status, 204);
    }

    /// A tiny local keep-alive server on one connection: answers 401 to the credential "bad", 200
    /// to anything else, and records every `Authorization` it saw.
    fn serve() -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let server_seen = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let mut conn = conn.unwrap();
                let server_seen = server_seen.clone();
                std::thread::spawn(move || {
                    let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
                    loop {
                        let mut auth = String::new();
                        let mut line = String::new();
                        loop {
                            line.clear();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if let Some(v) = line.strip_prefix("Authorization: ") {
                                auth = v.trim().to_owned();
                            }
                            if line == "\r\n" {
                                break;
                            }
                        }
                        let status = if auth == "bad" { "401 No" } else { "200 OK" };
                        server_seen.lock().unwrap().push(auth);
                        let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\n\r\nok");
                        if conn.write_all(reply.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (port, seen)
    }

    /// The whole loop against a tiny local server: keep-alive, credentials in turn, and a refusal
    /// counted as an error.
    #[test]
    fn the_load_loop_sends_each_credential_in_turn_and_counts_refusals() {
        let (port, seen) = serve();
        let target = Target {
            port,
            path: "/x".into(),
        };
        let credentials = Arc::new(vec!["a".to_owned(), "b".to_owned(), "bad".to_owned()]);
        let plan = Plan {
            connections: 1,
            warmup: Duration::ZERO,
            measure: Duration::from_millis(200),
        };
        let summary = run(
            &target,
            &credentials,
            plan,
            &Arc::new(AtomicBool::new(false)),
        )
        .unwrap();
        assert!(summary.requests > 3);
        assert!(summary.errors > 0 && !summary.is_valid());
        assert_eq!(summary.first_error.as_deref(), Some("status 401: ok"));
        let seen = seen.lock().unwrap();
        assert_eq!(&seen[..3], &["a", "b", "bad"]);
    }

    #[test]
    fn a_counted_run_sends_exactly_its_requests_from_the_given_credential_on() {
        let (port, seen) = serve();
        let target = Target {
            port,
            path: "/x".into(),
        };
        let credentials = Arc::new((0..10).map(|i| format!("t{i}")).collect::<Vec<_>>());
        let stop = Arc::new(AtomicBool::new(false));
        let summary = run_count(&target, &credentials, 3, 25, 7, &stop).unwrap();
        assert!(summary.is_valid(), "{:?}", summary.first_error);
        assert_eq!((summary.requests, summary.completed), (25, 25));
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 25, "no request beyond the budget");
        // Credentials 7, 8, 9, 0, 1, ... in turn: 25 requests from 7 end at 1 (the third time round),
        // so 7, 8, 9, 0 and 1 come three times and 2 to 6 twice.
        let counts: Vec<usize> = (0..10)
            .map(|i| seen.iter().filter(|s| **s == format!("t{i}")).count())
            .collect();
        assert_eq!(counts, [3, 3, 2, 2, 2, 2, 2, 3, 3, 3]);
    }
}
