//! A minimal W3C WebDriver client for the browser tests (https://www.w3.org/TR/webdriver2/), driving Debian's
//! `chromedriver` + headless `chromium` over blocking HTTP/1.1 on loopback. Only std and serde_json: each command is
//! one `Connection: close` request with a JSON body and `Content-Length`.
//!
//! ```ignore
//! let driver = ChromeDriver::start(Path::new("/usr/bin/chromedriver"))?;
//! let s = driver.new_session()?;
//! s.goto("http://127.0.0.1:8080/login")?;
//! s.fill("#username", "ada")?;
//! s.click("button[type=submit]")?;
//! s.screenshot(Path::new("docs/screenshots/01-login.png"))?;
//! ```
//!
//! Every method returns a [`Result`]; nothing in the client panics.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// The W3C key under which an element reference travels in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// Environment variable naming the chromedriver executable; unset means "skip the browser tests".
pub const CHROMEDRIVER_ENV: &str = "EVIDENTIA_CHROMEDRIVER";
/// Environment variable overriding the Chromium binary (default `/usr/bin/chromium`).
pub const CHROMIUM_ENV: &str = "EVIDENTIA_CHROMIUM";
/// Debian's Chromium.
pub const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

/// Everything that can go wrong while driving the browser.
#[derive(Debug)]
pub enum WebDriverError {
    /// An operating-system error (spawning, sockets, files), with what was being done.
    Io { context: String, source: io::Error },
    /// chromedriver did not come up.
    Start(String),
    /// A reply that is not well-formed HTTP or JSON.
    Protocol(String),
    /// chromedriver answered a command with a WebDriver error.
    Command {
        command: String,
        status: u16,
        error: String,
        message: String,
    },
    /// A wait ran out of time.
    Timeout(String),
}

impl fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebDriverError::Io { context, source } => write!(f, "{context}: {source}"),
            WebDriverError::Start(m) => write!(f, "could not start chromedriver: {m}"),
            WebDriverError::Protocol(m) => write!(f, "bad reply from chromedriver: {m}"),
            WebDriverError::Command {
                command,
                status,
                error,
                message,
            } => {
                // chromedriver appends a long native stack trace to some messages; the first line says it all.
                let first = message.lines().next().unwrap_or("");
                write!(f, "{command}: HTTP {status} {error}: {first}")
            }
            WebDriverError::Timeout(m) => write!(f, "timed out: {m}"),
        }
    }
}

impl std::error::Error for WebDriverError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WebDriverError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl WebDriverError {
    /// The WebDriver error code (`"no such element"`, ...) when chromedriver reported one.
    pub fn code(&self) -> Option<&str> {
        match self {
            WebDriverError::Command { error, .. } => Some(error),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, WebDriverError>;

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> WebDriverError {
    let context = context.into();
    move |source| WebDriverError::Io { context, source }
}

/// The chromedriver path from `EVIDENTIA_CHROMEDRIVER`, or `None` (unset or empty) when browser tests should skip.
/// A test that gets `Some` must fail, not skip, when the driver or the browser cannot be started.
pub fn chromedriver_from_env() -> Option<PathBuf> {
    match std::env::var_os(CHROMEDRIVER_ENV) {
        Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
        _ => None,
    }
}

/// A directory under the system temp dir, removed (with its contents) on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Result<TempDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for _ in 0..100 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path =
                std::env::temp_dir().join(format!("{prefix}-{}-{nanos}-{n}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir(path)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err(format!("creating {}", path.display()))(e)),
            }
        }
        Err(WebDriverError::Start(format!(
            "could not create a fresh temp dir named {prefix}-*"
        )))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A running chromedriver on a free loopback port; the process is killed on drop.
pub struct ChromeDriver {
    child: Child,
    port: u16,
    chromium: PathBuf,
    dir: TempDir,
}

impl fmt::Debug for ChromeDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChromeDriver")
            .field("pid", &self.child.id())
            .field("port", &self.port)
            .finish()
    }
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io_err("finding a free port"))?;
    let port = l
        .local_addr()
        .map_err(io_err("finding a free port"))?
        .port();
    Ok(port)
}

fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl ChromeDriver {
    /// Starts `chromedriver` (e.g. `/usr/bin/chromedriver`) and waits until `/status` says it is ready. Sessions use
    /// the Chromium named by `EVIDENTIA_CHROMIUM`, default `/usr/bin/chromium`.
    pub fn start(chromedriver: &Path) -> Result<ChromeDriver> {
        let chromium = std::env::var_os(CHROMIUM_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CHROMIUM));
        Self::start_with(chromedriver, &chromium)
    }

    /// Like [`ChromeDriver::start`] with an explicit Chromium binary.
    pub fn start_with(chromedriver: &Path, chromium: &Path) -> Result<ChromeDriver> {
        if !chromedriver.is_file() {
            return Err(WebDriverError::Start(format!(
                "{} does not exist (install chromium-driver, or run .ci/services)",
                chromedriver.display()
            )));
        }
        if !chromium.is_file() {
            return Err(WebDriverError::Start(format!(
                "the browser {} does not exist (install chromium)",
                chromium.display()
            )));
        }
        let mut dir = TempDir::new("evidentia-chromedriver")?;
        let log = dir.path().join("chromedriver.log");
        let mut last = String::new();
        // The port is free when we look and may be taken before chromedriver binds it: try a few.
        for _ in 0..3 {
            let port = free_port()?;
            let child = Command::new(chromedriver)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(io_err(format!("spawning {}", chromedriver.display())))?;
            let mut driver = ChromeDriver {
                child,
                port,
                chromium: chromium.to_path_buf(),
                dir,
            };
            match driver.wait_ready(Duration::from_secs(30)) {
                Ok(()) => return Ok(driver),
                Err(e) => {
                    last = format!("{e}; chromedriver log:\n{}", tail(&log, 20));
                    let _ = driver.child.kill();
                    let _ = driver.child.wait();
                    // Take the temp dir back out of the failed driver for the next try.
                    dir = std::mem::replace(&mut driver.dir, TempDir(PathBuf::new()));
                }
            }
        }
        Err(WebDriverError::Start(last))
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let t0 = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .map_err(io_err("checking on chromedriver"))?
            {
                return Err(WebDriverError::Start(format!(
                    "chromedriver exited with {status} before it was ready"
                )));
            }
            if let Ok(v) = http(self.port, "GET", "/status", None, Duration::from_secs(2))
                && v.get("ready").and_then(Value::as_bool) == Some(true)
            {
                return Ok(());
            }
            if t0.elapsed() > timeout {
                return Err(WebDriverError::Timeout(format!(
                    "chromedriver on port {} not ready after {timeout:?}",
                    self.port
                )));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The loopback port chromedriver listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A new headless Chromium session with a fresh profile directory and a 1200x1600 window.
    pub fn new_session(&self) -> Result<Session> {
        let profile = TempDir::new("evidentia-chromium-profile")?;
        let args = [
            "--headless".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-quic".to_string(),
            "--no-first-run".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            "--disable-dev-shm-usage".to_string(),
            format!("--user-data-dir={}", profile.path().display()),
            "--window-size=1200,1600".to_string(),
        ];
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "goog:chromeOptions": {
                        "binary": self.chromium.display().to_string(),
                        "args": args,
                    },
                    "pageLoadStrategy": "normal",
                    "timeouts": {"implicit": 0, "pageLoad": 60000, "script": 30000},
                }
            }
        });
        let v = http(
            self.port,
            "POST",
            "/session",
            Some(&caps),
            Duration::from_secs(90),
        )
        .map_err(|e| match e {
            WebDriverError::Command { .. } => WebDriverError::Start(format!(
                "chromedriver could not start {}: {e}; chromedriver log:\n{}",
                self.chromium.display(),
                tail(&self.dir.path().join("chromedriver.log"), 20)
            )),
            other => other,
        })?;
        let id = v
            .get("sessionId")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                WebDriverError::Protocol(format!("new session reply without sessionId: {v}"))
            })?
            .to_string();
        Ok(Session {
            port: self.port,
            id,
            _profile: profile,
        })
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session; deleted (the browser closed) on drop.
#[derive(Debug)]
pub struct Session {
    port: u16,
    id: String,
    _profile: TempDir,
}

/// A reference to an element of the current page.
#[derive(Debug, Clone)]
pub struct Element<'s> {
    session: &'s Session,
    id: String,
}

fn element_ref(v: &Value) -> Result<String> {
    v.get(ELEMENT_KEY)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| WebDriverError::Protocol(format!("expected an element reference, got {v}")))
}

fn css_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\a "),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Session {
    const TIMEOUT: Duration = Duration::from_secs(90);

    fn cmd(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        http(
            self.port,
            method,
            &format!("/session/{}{path}", self.id),
            body,
            Self::TIMEOUT,
        )
    }

    /// Navigates to `url` and waits for the page to load.
    pub fn goto(&self, url: &str) -> Result<()> {
        self.cmd("POST", "/url", Some(&json!({ "url": url })))
            .map(drop)
    }

    /// The URL of the current page.
    pub fn current_url(&self) -> Result<String> {
        as_string(self.cmd("GET", "/url", None)?, "current URL")
    }

    /// The document title.
    pub fn title(&self) -> Result<String> {
        as_string(self.cmd("GET", "/title", None)?, "title")
    }

    /// The serialized DOM of the current page.
    pub fn page_source(&self) -> Result<String> {
        as_string(self.cmd("GET", "/source", None)?, "page source")
    }

    /// Goes back in history.
    pub fn back(&self) -> Result<()> {
        self.cmd("POST", "/back", Some(&json!({}))).map(drop)
    }

    /// The first element matching the CSS selector (error `no such element` when none does).
    pub fn find(&self, css: &str) -> Result<Element<'_>> {
        let v = self.cmd(
            "POST",
            "/element",
            Some(&json!({"using": "css selector", "value": css})),
        )?;
        Ok(Element {
            session: self,
            id: element_ref(&v)?,
        })
    }

    /// All elements matching the CSS selector (possibly none).
    pub fn find_all(&self, css: &str) -> Result<Vec<Element<'_>>> {
        let v = self.cmd(
            "POST",
            "/elements",
            Some(&json!({"using": "css selector", "value": css})),
        )?;
        let items = v.as_array().ok_or_else(|| {
            WebDriverError::Protocol(format!("expected a list of elements, got {v}"))
        })?;
        items
            .iter()
            .map(|e| {
                Ok(Element {
                    session: self,
                    id: element_ref(e)?,
                })
            })
            .collect()
    }

    /// Polls until an element matches the CSS selector.
    pub fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element<'_>> {
        let t0 = Instant::now();
        loop {
            match self.find(css) {
                Ok(_) => return self.find(css),
                Err(e) if e.code() == Some("no such element") => {}
                Err(e) => return Err(e),
            }
            if t0.elapsed() > timeout {
                let url = self.current_url().unwrap_or_default();
                return Err(WebDriverError::Timeout(format!(
                    "no element matches {css} on {url} after {timeout:?}"
                )));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Clicks the element matching `css` when the click loads a new document (a submit button, a link), and waits
    /// until the old document is gone and the new one has loaded: chromedriver's click can return before a form
    /// submission has replaced the page.
    pub fn click_and_wait(&self, css: &str, timeout: Duration) -> Result<()> {
        let old = self.find("html")?;
        self.find(css)?.click()?;
        let t0 = Instant::now();
        loop {
            match old.property("nodeName") {
                Ok(_) => {}
                // chromedriver reports a node of a replaced document in several ways.
                Err(WebDriverError::Command { error, message, .. })
                    if error == "stale element reference"
                        || error == "no such element"
                        || message.contains("does not belong to the document") =>
                {
                    break;
                }
                Err(e) => return Err(e),
            }
            if t0.elapsed() > timeout {
                let url = self.current_url().unwrap_or_default();
                return Err(WebDriverError::Timeout(format!(
                    "clicking {css} on {url} did not load a new page within {timeout:?}"
                )));
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.wait_loaded(timeout.saturating_sub(t0.elapsed()))
    }

    /// Polls until `document.readyState` is `complete`.
    pub fn wait_loaded(&self, timeout: Duration) -> Result<()> {
        let t0 = Instant::now();
        loop {
            match self.execute("return document.readyState;", vec![]) {
                Ok(v) if v == "complete" => return Ok(()),
                Ok(_) => {}
                // The script can race the navigation itself; try again.
                Err(WebDriverError::Command { .. }) if t0.elapsed() < timeout => {}
                Err(e) => return Err(e),
            }
            if t0.elapsed() > timeout {
                return Err(WebDriverError::Timeout(format!(
                    "the page did not finish loading within {timeout:?}"
                )));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The visible text of the first element matching `css`.
    pub fn text(&self, css: &str) -> Result<String> {
        self.find(css)?.text()
    }

    /// Clears the field matching `css` and types `text` into it.
    pub fn fill(&self, css: &str, text: &str) -> Result<()> {
        let e = self.find(css)?;
        e.clear()?;
        e.send_keys(text)
    }

    /// Clicks the first element matching `css`.
    pub fn click(&self, css: &str) -> Result<()> {
        self.find(css)?.click()
    }

    /// Chooses the `<option value=value>` of the `<select>` matching `css`.
    pub fn select(&self, css: &str, value: &str) -> Result<()> {
        self.find(css)?.select_by_value(value)
    }

    /// Submits the form matching `css` (or the form of the element matching it).
    pub fn submit(&self, css: &str) -> Result<()> {
        self.find(css)?.submit()
    }

    /// Runs a synchronous script; elements in `args` are passed with [`Element::to_json`].
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(&json!({"script": script, "args": args})),
        )
    }

    /// The value of the cookie `name` of the current page (HttpOnly cookies included), `None` when absent.
    pub fn cookie(&self, name: &str) -> Result<Option<String>> {
        match self.cmd("GET", &format!("/cookie/{name}"), None) {
            Ok(v) => Ok(v.get("value").and_then(Value::as_str).map(str::to_string)),
            Err(e) if e.code() == Some("no such cookie") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The PNG bytes of a screenshot of the current viewport.
    pub fn screenshot_png(&self) -> Result<Vec<u8>> {
        let b64 = as_string(self.cmd("GET", "/screenshot", None)?, "screenshot")?;
        base64_decode(&b64)
    }

    /// Saves a PNG screenshot of the current viewport to `path`, creating its parent directories.
    pub fn screenshot(&self, path: &Path) -> Result<()> {
        let png = self.screenshot_png()?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
        }
        fs::write(path, png).map_err(io_err(format!("writing {}", path.display())))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = http(
            self.port,
            "DELETE",
            &format!("/session/{}", self.id),
            None,
            Duration::from_secs(20),
        );
    }
}

impl<'s> Element<'s> {
    fn cmd(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        self.session
            .cmd(method, &format!("/element/{}{path}", self.id), body)
    }

    /// The W3C JSON form of this reference, for [`Session::execute`] arguments.
    pub fn to_json(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }

    /// The visible text.
    pub fn text(&self) -> Result<String> {
        as_string(self.cmd("GET", "/text", None)?, "element text")
    }

    /// An attribute as written in the HTML (`None` when absent).
    pub fn attribute(&self, name: &str) -> Result<Option<String>> {
        let v = self.cmd("GET", &format!("/attribute/{name}"), None)?;
        Ok(v.as_str().map(str::to_string))
    }

    /// A DOM property (`value`, `checked`, ...).
    pub fn property(&self, name: &str) -> Result<Value> {
        self.cmd("GET", &format!("/property/{name}"), None)
    }

    /// Whether a checkbox, radio button or option is selected.
    pub fn is_selected(&self) -> Result<bool> {
        let v = self.cmd("GET", "/selected", None)?;
        v.as_bool()
            .ok_or_else(|| WebDriverError::Protocol(format!("expected true/false, got {v}")))
    }

    /// Clears an input or textarea.
    pub fn clear(&self) -> Result<()> {
        self.cmd("POST", "/clear", Some(&json!({}))).map(drop)
    }

    /// Types `text` into the element.
    pub fn send_keys(&self, text: &str) -> Result<()> {
        self.cmd("POST", "/value", Some(&json!({ "text": text })))
            .map(drop)
    }

    /// Clicks the element (waiting for a navigation it starts).
    pub fn click(&self) -> Result<()> {
        self.cmd("POST", "/click", Some(&json!({}))).map(drop)
    }

    /// The first descendant matching `css`.
    pub fn find(&self, css: &str) -> Result<Element<'s>> {
        let v = self.cmd(
            "POST",
            "/element",
            Some(&json!({"using": "css selector", "value": css})),
        )?;
        Ok(Element {
            session: self.session,
            id: element_ref(&v)?,
        })
    }

    /// For a `<select>`: chooses the option whose value is `value`.
    pub fn select_by_value(&self, value: &str) -> Result<()> {
        let option = self
            .find(&format!("option[value={}]", css_string(value)))
            .map_err(|e| match e {
                WebDriverError::Command { error, .. } if error == "no such element" => {
                    WebDriverError::Command {
                        command: "select option".into(),
                        status: 404,
                        error,
                        message: format!("the select has no option with value {value:?}"),
                    }
                }
                other => other,
            })?;
        if !option.is_selected()? {
            option.click()?;
        }
        Ok(())
    }

    /// Submits the form this element is (or is in), as pressing Enter would: `requestSubmit` runs the form's
    /// validation and submit handlers. Waits for the next page to start loading only as far as the browser does.
    pub fn submit(&self) -> Result<()> {
        let script = "var e = arguments[0]; var f = e.tagName === 'FORM' ? e : e.form;\
                      if (!f) { throw new Error('the element is not in a form'); }\
                      if (f.requestSubmit) { f.requestSubmit(); } else { f.submit(); }";
        self.session.execute(script, vec![self.to_json()]).map(drop)
    }
}

fn as_string(v: Value, what: &str) -> Result<String> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(WebDriverError::Protocol(format!(
            "expected the {what} as a string, got {other}"
        ))),
    }
}

/// One WebDriver command: a blocking HTTP/1.1 request to chromedriver on loopback, returning the reply's `value`.
fn http(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
    timeout: Duration,
) -> Result<Value> {
    let command = format!("{method} {path}");
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let payload = body.map(Value::to_string);
    let (status, body) = request(
        addr,
        method,
        path,
        &[("Accept", "application/json")],
        payload
            .as_deref()
            .map(|p| ("application/json; charset=utf-8", p.as_bytes())),
        timeout,
    )
    .map_err(|e| match e {
        WebDriverError::Io { context, source } => WebDriverError::Io {
            context: format!("{command}: {context}"),
            source,
        },
        WebDriverError::Protocol(m) => WebDriverError::Protocol(format!("{command}: {m}")),
        other => other,
    })?;
    let v: Value = serde_json::from_slice(&body).map_err(|e| {
        WebDriverError::Protocol(format!(
            "{command}: reply body is not JSON ({e}): {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ))
    })?;
    let value = match v {
        Value::Object(mut o) => o.remove("value").unwrap_or(Value::Null),
        other => other,
    };
    if (200..300).contains(&status) {
        return Ok(value);
    }
    let field = |k: &str| {
        value
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    Err(WebDriverError::Command {
        command,
        status,
        error: field("error"),
        message: field("message"),
    })
}

/// A blocking HTTP/1.1 request (`Connection: close`, body with `Content-Length`); returns status and body.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &[u8])>,
    timeout: Duration,
) -> Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(io_err(format!("connecting to {addr}")))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(io_err("setting socket timeouts"))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        if k.contains(['\r', '\n']) || v.contains(['\r', '\n']) {
            return Err(WebDriverError::Protocol(format!(
                "header {k:?} contains a line break"
            )));
        }
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let (ctype, payload) = body.unwrap_or(("", b""));
    if body.is_some() || method == "POST" {
        head.push_str(&format!(
            "Content-Type: {ctype}\r\nContent-Length: {}\r\n",
            payload.len()
        ));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(payload);
    stream
        .write_all(&bytes)
        .map_err(io_err("sending the request"))?;
    // chromedriver keeps the connection open despite `Connection: close`: read until the reply is complete.
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut buf).map_err(io_err("reading the reply"))?;
        raw.extend_from_slice(&buf[..n]);
        match parse_response(&raw, n == 0) {
            Ok(Some(done)) => return Ok(done),
            Ok(None) => continue,
            Err(m) => return Err(WebDriverError::Protocol(m)),
        }
    }
}

/// GET `url` (`http://host:port/path` only) outside the browser, e.g. a download, optionally sending a
/// `Cookie` header (see [`Session::cookie`]). Returns the status and the body.
pub fn http_get(url: &str, cookie: Option<&str>) -> Result<(u16, Vec<u8>)> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        WebDriverError::Protocol(format!("only http:// URLs are supported, not {url}"))
    })?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr: SocketAddr = host.parse().map_err(|_| {
        WebDriverError::Protocol(format!("{url}: the host must be an IP address and port"))
    })?;
    let mut headers = vec![];
    if let Some(c) = cookie {
        headers.push(("Cookie", c));
    }
    request(addr, "GET", path, &headers, None, Duration::from_secs(60)).map_err(|e| match e {
        WebDriverError::Io { context, source } => WebDriverError::Io {
            context: format!("GET {url}: {context}"),
            source,
        },
        WebDriverError::Protocol(m) => WebDriverError::Protocol(format!("GET {url}: {m}")),
        other => other,
    })
}

/// Splits a raw HTTP/1.1 reply into its status code and body (Content-Length, chunked, or read-to-close); `None`
/// while more bytes are needed, an error when the reply is malformed or `eof` came before its end.
fn parse_response(raw: &[u8], eof: bool) -> std::result::Result<Option<(u16, Vec<u8>)>, String> {
    let incomplete = |what: &str| {
        if eof {
            Err(format!("connection closed before the end of the {what}"))
        } else {
            Ok(None)
        }
    };
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return incomplete("headers");
    };
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "headers are not UTF-8".to_string())?;
    let rest = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("content-length") {
            length = Some(
                v.parse::<usize>()
                    .map_err(|_| format!("bad Content-Length {v:?}"))?,
            );
        } else if k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked") {
            chunked = true;
        }
    }
    if chunked {
        return match dechunk(rest)? {
            Some(body) => Ok(Some((status, body))),
            None => incomplete("chunked body"),
        };
    }
    match length {
        Some(n) if rest.len() < n => incomplete("body"),
        Some(n) => Ok(Some((status, rest[..n].to_vec()))),
        None if eof => Ok(Some((status, rest.to_vec()))),
        None => Ok(None),
    }
}

/// Decodes a chunked body; `None` while it is incomplete.
fn dechunk(mut data: &[u8]) -> std::result::Result<Option<Vec<u8>>, String> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(&data[..eol]).map_err(|_| "chunk size is not text")?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(Some(out));
        }
        if data.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Decodes standard base64 (RFC 4648 §4, padded or not, whitespace ignored).
pub fn base64_decode(text: &str) -> Result<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some((c - b'A') as u32),
            b'a'..=b'z' => Some((c - b'a') as u32 + 26),
            b'0'..=b'9' => Some((c - b'0') as u32 + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    let mut padding = false;
    for (i, c) in text.bytes().enumerate() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            padding = true;
            continue;
        }
        let v = sextet(c)
            .filter(|_| !padding)
            .ok_or_else(|| WebDriverError::Protocol(format!("invalid base64 at byte {i}")))?;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if bits >= 6 {
        return Err(WebDriverError::Protocol("truncated base64".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_known_vectors() {
        // RFC 4648 §10 test vectors.
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_decode(enc).unwrap(), plain.as_bytes());
        }
        assert!(base64_decode("Zm9v!").is_err());
        assert!(base64_decode("Z").is_err());
    }

    #[test]
    fn http_replies_are_complete_only_when_their_body_is() {
        let full = b"HTTP/1.1 200 OK\r\nContent-Length:11\r\n\r\n{\"value\":1}";
        assert_eq!(
            parse_response(full, false).unwrap(),
            Some((200, b"{\"value\":1}".to_vec()))
        );
        assert_eq!(
            parse_response(&full[..full.len() - 1], false).unwrap(),
            None
        );
        assert!(parse_response(&full[..full.len() - 1], true).is_err());
        assert_eq!(
            parse_response(b"HTTP/1.1 404 Not Found\r\n", false).unwrap(),
            None
        );
        let chunked = b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(chunked, false).unwrap(),
            Some((500, b"abcde".to_vec()))
        );
        assert_eq!(
            parse_response(&chunked[..chunked.len() - 7], false).unwrap(),
            None
        );
        assert!(parse_response(b"HTTP/1.1 abc\r\n\r\n", false).is_err());
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\n\r\nxyz", true).unwrap(),
            Some((200, b"xyz".to_vec()))
        );
    }
}
