//! A tiny threaded HTTP/1.1 server for the download tests: serves files on 127.0.0.1, can drop
//! the connection half way, ignore `Range`, or answer with a fixed status, and records every
//! request's headers. Bounded: it stops accepting after `MAX_REQUESTS` or a minute, and each
//! connection has a read timeout, so a test never hangs on it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const MAX_REQUESTS: usize = 200;
const LIFETIME: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behavior {
    /// 200, or 206 for a `Range: bytes=N-` request.
    Normal,
    /// Like `Normal`, but the first `times` responses stop after `after` body bytes and close
    /// the connection (the headers announce the full length).
    DropAfter { after: usize, times: usize },
    /// Always 200 with the whole file, whatever `Range` says.
    IgnoreRange,
    /// Answers a range request with 206 but a `Content-Range` starting at 0 (a broken server).
    WrongRange,
    /// Sends `after` body bytes, then stalls (up to 20 s) without closing: for kill tests.
    Stall { after: usize },
    /// Always this status with a short body.
    Status(u16),
}

#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    /// Lower-cased names.
    pub headers: Vec<(String, String)>,
    /// The request line and headers exactly as received.
    pub raw: String,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Route {
    body: Arc<Vec<u8>>,
    behavior: Behavior,
    drops_done: usize,
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Route>,
    requests: Vec<Request>,
}

pub struct Server {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut served = 0;
            let mut workers = Vec::new();
            while !sp.load(Ordering::Relaxed)
                && started.elapsed() < LIFETIME
                && served < MAX_REQUESTS
            {
                match listener.accept() {
                    Ok((stream, _)) => {
                        served += 1;
                        let st = st.clone();
                        workers.push(std::thread::spawn(move || {
                            if let Err(e) = handle(stream, &st) {
                                #[allow(clippy::print_stderr)]
                                {
                                    eprintln!("server: {e}");
                                }
                            }
                        }));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => break,
                }
            }
            for w in workers {
                let _ = w.join();
            }
        });
        Server {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// Serves `body` at `path` (e.g. `/files/x.tar.gz`).
    pub fn serve(&self, path: &str, body: Vec<u8>, behavior: Behavior) {
        self.state.lock().unwrap().routes.insert(
            path.to_string(),
            Route {
                body: Arc::new(body),
                behavior,
                drops_done: 0,
            },
        );
    }

    pub fn set_behavior(&self, path: &str, behavior: Behavior) {
        let mut s = self.state.lock().unwrap();
        let r = s.routes.get_mut(path).expect("route");
        r.behavior = behavior;
        r.drops_done = 0;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn handle(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut raw = String::new();
    let mut first = String::new();
    reader.read_line(&mut first)?;
    raw.push_str(&first);
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        raw.push_str(&line);
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((n, v)) = l.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let path = first.split_whitespace().nth(1).unwrap_or("/").to_string();
    let req = Request {
        path: path.clone(),
        headers,
        raw,
    };
    let range_start = req
        .header("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok());

    let (body, behavior, drop_now) = {
        let mut s = state.lock().unwrap();
        s.requests.push(req);
        let route = path.split('?').next().unwrap_or("").to_string();
        match s.routes.get_mut(&route) {
            None => (None, Behavior::Status(404), false),
            Some(r) => {
                let drop_now = match r.behavior {
                    Behavior::DropAfter { times, .. } if r.drops_done < times => {
                        r.drops_done += 1;
                        true
                    }
                    _ => false,
                };
                (Some(r.body.clone()), r.behavior.clone(), drop_now)
            }
        }
    };
    let mut out = stream;
    let body = match (body, &behavior) {
        (_, Behavior::Status(code)) => {
            let msg = format!("status {code}\n");
            write!(
                out,
                "HTTP/1.1 {code} Test\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{msg}",
                msg.len()
            )?;
            return out.flush();
        }
        (Some(b), _) => b,
        (None, _) => unreachable!("no route is a 404 status above"),
    };
    let len = body.len();
    if behavior == Behavior::WrongRange && range_start.is_some() {
        write!(
            out,
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-{}/{len}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n",
            len - 1
        )?;
        out.write_all(&body)?;
        return out.flush();
    }
    let start = match (&behavior, range_start) {
        (Behavior::IgnoreRange, _) => None,
        (_, Some(s)) if s < len => Some(s),
        (_, Some(_)) => {
            write!(
                out,
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
            return out.flush();
        }
        (_, None) => None,
    };
    let slice = match start {
        Some(s) => {
            write!(
                out,
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {s}-{}/{len}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n",
                len - 1,
                len - s
            )?;
            &body[s..]
        }
        None => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n"
            )?;
            &body[..]
        }
    };
    match behavior {
        Behavior::Stall { after } => {
            out.write_all(&slice[..after.min(slice.len())])?;
            out.flush()?;
            let until = Instant::now() + Duration::from_secs(20);
            // Ends early once the client is gone (killed): the socket then reads EOF.
            out.set_read_timeout(Some(Duration::from_millis(100)))?;
            let mut probe = [0u8; 1];
            while Instant::now() < until {
                match out.read(&mut probe) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
            Ok(())
        }
        Behavior::DropAfter { after, .. } if drop_now => {
            let n = after.min(slice.len());
            out.write_all(&slice[..n])?;
            out.flush()?;
            // Close without sending the rest: the client sees a short body.
            out.shutdown(std::net::Shutdown::Both)
        }
        _ => {
            out.write_all(slice)?;
            out.flush()
        }
    }
}
