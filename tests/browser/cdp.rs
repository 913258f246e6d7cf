//! Debian's `chromium`, headless, driven over the DevTools protocol: a process we start and stop, and
//! a small client over its WebSocket (commands with ids, events queued until asked for). Written here
//! rather than taken from a CDP crate: the handful of commands the story needs cost less than the
//! generated bindings of the whole protocol would take to build on this two-core machine.

use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// How long one command may take before the test fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// A headless chromium with its own empty profile; killed when dropped.
pub struct Chromium {
    child: Child,
    pub ws_url: String,
    _profile: tempfile::TempDir,
}

impl Chromium {
    /// Starts `CHROMIUM` (default `chromium`) with the flags that keep it off the network.
    pub fn launch() -> Chromium {
        let program = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".to_owned());
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut child = Command::new(&program)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--no-default-browser-check",
                "--window-size=1000,900",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program}: {e} (cargo xtask test installs it)"));
        let stderr = child.stderr.take().expect("chromium's stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the DevTools address, then keeps draining so that chromium never blocks on the pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let ws_url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("chromium printed no DevTools address within 30 s");
        Chromium {
            child,
            ws_url,
            _profile: profile,
        }
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One DevTools connection (the browser's), with a page session attached to it (flat mode).
pub struct Cdp {
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    events: VecDeque<Value>,
    /// The attached page's session id.
    pub session: String,
}

impl Cdp {
    /// Connects to the browser and opens one page (tab), attached for commands.
    pub fn open_page(browser: &Chromium) -> Cdp {
        let (socket, _) = tungstenite::connect(&browser.ws_url).expect("connecting to DevTools");
        if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream
                .set_read_timeout(Some(Duration::from_millis(200)))
                .expect("a read timeout");
        }
        let mut cdp = Cdp {
            socket,
            next_id: 0,
            events: VecDeque::new(),
            session: String::new(),
        };
        let target = cdp.browser_call("Target.createTarget", json!({ "url": "about:blank" }));
        let attached = cdp.browser_call(
            "Target.attachToTarget",
            json!({ "targetId": target["targetId"], "flatten": true }),
        );
        cdp.session = attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        cdp
    }

    fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> u64 {
        self.next_id += 1;
        let mut message = json!({ "id": self.next_id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .unwrap_or_else(|e| panic!("sending {method}: {e}"));
        self.next_id
    }

    /// The next message, or `None` after the read timeout.
    fn receive(&mut self) -> Option<Value> {
        match self.socket.read() {
            Ok(Message::Text(text)) => Some(serde_json::from_str(&text).expect("DevTools json")),
            Ok(_) => None,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => panic!("reading from DevTools: {e}"),
        }
    }

    fn wait_for_reply(&mut self, id: u64, method: &str) -> Result<Value, Value> {
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        while Instant::now() < deadline {
            let Some(message) = self.receive() else {
                continue;
            };
            if message["id"].as_u64() == Some(id) {
                return match message.get("error") {
                    Some(error) => Err(error.clone()),
                    None => Ok(message["result"].clone()),
                };
            }
            if message.get("method").is_some() {
                self.events.push_back(message);
            }
        }
        panic!("{method}: no answer within {COMMAND_TIMEOUT:?}");
    }

    fn browser_call(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(None, method, params);
        self.wait_for_reply(id, method)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// A command to the page; panics with the protocol's error.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.try_call(method, params)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    pub fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let session = self.session.clone();
        let id = self.send(Some(&session), method, params);
        self.wait_for_reply(id, method)
    }

    /// Waits for the page's event `method` (queued ones first) and returns its params.
    pub fn wait_event(&mut self, method: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.events.iter().position(|e| e["method"] == method) {
                let event = self.events.remove(i).expect("a queued event");
                return event["params"].clone();
            }
            assert!(Instant::now() < deadline, "no {method} within {timeout:?}");
            if let Some(message) = self.receive() {
                if message.get("method").is_some() {
                    self.events.push_back(message);
                }
            }
        }
    }

    /// Evaluates `expression` in the page (awaiting a promise), with a user gesture; its value or
    /// the exception's description.
    pub fn eval(&mut self, expression: &str) -> Result<Value, String> {
        let result = self
            .try_call(
                "Runtime.evaluate",
                json!({
                    "expression": expression,
                    "awaitPromise": true,
                    "returnByValue": true,
                    "userGesture": true,
                }),
            )
            .map_err(|e| e.to_string())?;
        if let Some(exception) = result.get("exceptionDetails") {
            return Err(exception["exception"]["description"]
                .as_str()
                .unwrap_or("an exception")
                .to_owned());
        }
        Ok(result["result"]["value"].clone())
    }

    /// Goes to `url` and waits for its load event.
    pub fn goto(&mut self, url: &str) {
        self.events.clear();
        let navigated = self.call("Page.navigate", json!({ "url": url }));
        assert!(
            navigated.get("errorText").is_none(),
            "navigating to {url}: {navigated}"
        );
        self.wait_event("Page.loadEventFired", Duration::from_secs(20));
    }

    /// Waits until the page's `location.pathname` is `path` and the document has loaded (after a
    /// script or a form moved it there).
    pub fn wait_for_path(&mut self, path: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut last = Value::Null;
        while Instant::now() < deadline {
            // While a navigation is under way the context is replaced and evaluation may fail.
            if let Ok(value) = self.eval("[location.pathname, document.readyState]") {
                if value[0] == path && value[1] == "complete" {
                    return;
                }
                last = value;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let error = self.eval("document.getElementById('error')?.dataset.code + ': ' + document.getElementById('error')?.textContent");
        panic!(
            "the page did not reach {path} within {timeout:?} (last {last}; page error {error:?})"
        );
    }

    /// Types `text` into the focused element.
    pub fn type_text(&mut self, text: &str) {
        self.call("Input.insertText", json!({ "text": text }));
    }

    /// Presses and releases a key (`Tab`, `Enter`) on the focused element.
    pub fn press(&mut self, key: &str, key_code: u32) {
        let text = if key == "Enter" { "\r" } else { "" };
        for kind in ["keyDown", "keyUp"] {
            self.call(
                "Input.dispatchKeyEvent",
                json!({
                    "type": kind,
                    "key": key,
                    "code": key,
                    "windowsVirtualKeyCode": key_code,
                    "text": if kind == "keyDown" { text } else { "" },
                }),
            );
        }
    }

    /// A PNG of the whole page.
    pub fn screenshot(&mut self, path: &std::path::Path) {
        use base64::Engine as _;
        // Right after a navigation the new document may not be laid out yet (0 × 0): ask again.
        let mut size = Value::Null;
        for _ in 0..50 {
            size = self.call("Page.getLayoutMetrics", json!({}))["cssContentSize"].clone();
            if size["width"].as_f64().unwrap_or(0.0) >= 1.0
                && size["height"].as_f64().unwrap_or(0.0) >= 1.0
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let shot = self.call(
            "Page.captureScreenshot",
            json!({
                "format": "png",
                "captureBeyondViewport": true,
                "clip": { "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1 },
            }),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("screenshot base64");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}
