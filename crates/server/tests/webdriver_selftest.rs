//! Self-test of the WebDriver client in `support/webdriver.rs`, independent of the server crate: a tiny HTML form is
//! served from a std `TcpListener` thread and driven in headless Chromium (typing, selecting, clicking, submitting,
//! reading the result page, a screenshot).
//!
//! Skips (with a message) when `EVIDENTIA_CHROMEDRIVER` is unset; fails when it is set but chromedriver or Chromium
//! cannot be started. `eval "$(.ci/services)"` installs both and sets the variable.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use support::webdriver::{ChromeDriver, TempDir, WebDriverError, chromedriver_from_env, http_get};

const FORM: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Form</title></head>
<body><h1>Form</h1>
<form id="f" method="post" action="/submit">
  <label for="name">Name</label> <input id="name" name="name" value="preset">
  <select id="colour" name="colour">
    <option value="red">Red</option><option value="green &amp; blue">Green and blue</option>
  </select>
  <input type="checkbox" id="agree" name="agree" value="yes"> <label for="agree">Agree</label>
  <textarea id="notes" name="notes"></textarea>
  <button id="go" type="submit">Send</button>
</form></body></html>"#;

/// Decodes `application/x-www-form-urlencoded`.
fn form_decode(body: &str) -> Vec<(String, String)> {
    fn unescape(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => {
                    match u8::from_str_radix(
                        std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"),
                        16,
                    ) {
                        Ok(v) => {
                            out.push(v);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (unescape(k), unescape(v))
        })
        .collect()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Answers one request: the form on GET /, an echo of the posted fields on POST /submit.
fn handle(stream: TcpStream, posted: &Mutex<Vec<Vec<(String, String)>>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0usize;
    let mut cookie = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            } else if k.trim().eq_ignore_ascii_case("cookie") {
                cookie = v.trim().to_string();
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut extra = "";
    let (status, page) = match (method, path) {
        ("GET", "/") => ("200 OK", FORM.to_string()),
        ("GET", "/echo-cookie") => ("200 OK", format!("cookie: {cookie}")),
        ("POST", "/submit") => {
            let fields = form_decode(&String::from_utf8_lossy(&body));
            let items: String = fields
                .iter()
                .map(|(k, v)| format!("<li id=\"got-{k}\">{}</li>", html_escape(v)))
                .collect();
            posted.lock().unwrap().push(fields);
            extra = "Set-Cookie: token=abc123; Path=/; HttpOnly; SameSite=Strict\r\n";
            (
                "200 OK",
                format!(
                    "<!doctype html><html><head><title>Result</title></head><body><h1>Result</h1>\
                     <p class=\"ok\" id=\"result\">received</p><ul>{items}</ul></body></html>"
                ),
            )
        }
        _ => ("404 Not Found", "<h1>Not found</h1>".to_string()),
    };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status}\r\n{extra}Content-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
        page.len()
    )?;
    out.flush()
}

type Posted = Arc<Mutex<Vec<Vec<(String, String)>>>>;

fn serve() -> (String, Posted) {
    let listener =
        TcpListener::bind("127.0.0.1:0").expect("binding a loopback port for the form server");
    let base = format!("http://{}", listener.local_addr().unwrap());
    let posted: Posted = Arc::default();
    let log = Arc::clone(&posted);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let log = Arc::clone(&log);
            thread::spawn(move || {
                let _ = handle(stream, &log);
            });
        }
    });
    (base, posted)
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn drives_a_form_in_headless_chromium() {
    let Some(chromedriver) = chromedriver_from_env() else {
        eprintln!(
            "SKIPPED drives_a_form_in_headless_chromium: EVIDENTIA_CHROMEDRIVER is not set \
             (install chromium and chromium-driver, or run `eval \"$(.ci/services)\"`)"
        );
        return;
    };
    // Set but unusable is a failure, not a skip.
    let driver = ChromeDriver::start(&chromedriver).unwrap_or_else(|e| {
        panic!(
            "EVIDENTIA_CHROMEDRIVER={} is set but unusable: {e}",
            chromedriver.display()
        )
    });
    let s = driver
        .new_session()
        .unwrap_or_else(|e| panic!("headless Chromium did not start: {e}"));
    let (base, posted) = serve();

    // Typing, choosing, ticking, clicking the submit button.
    s.goto(&format!("{base}/")).unwrap();
    assert_eq!(s.title().unwrap(), "Form");
    assert_eq!(s.text("h1").unwrap(), "Form");
    let name = s.find("#name").unwrap();
    assert_eq!(name.property("value").unwrap(), "preset");
    s.fill("#name", "Ada Lovelace & Co. = 100%").unwrap();
    assert_eq!(name.property("value").unwrap(), "Ada Lovelace & Co. = 100%");
    s.select("#colour", "green & blue").unwrap();
    s.click("#agree").unwrap();
    assert!(s.find("#agree").unwrap().is_selected().unwrap());
    s.fill("#notes", "line one\nline two").unwrap();
    s.click_and_wait("#go", Duration::from_secs(20)).unwrap();
    s.wait_for("#result", Duration::from_secs(20)).unwrap();
    assert!(s.current_url().unwrap().ends_with("/submit"));
    assert_eq!(s.text("#got-name").unwrap(), "Ada Lovelace & Co. = 100%");
    assert_eq!(s.text("#got-colour").unwrap(), "green & blue");
    assert_eq!(s.text("#got-agree").unwrap(), "yes");
    assert!(
        s.page_source()
            .unwrap()
            .contains("<p class=\"ok\" id=\"result\">received</p>")
    );
    {
        let posted = posted.lock().unwrap();
        assert_eq!(posted.len(), 1);
        assert_eq!(field(&posted[0], "name"), Some("Ada Lovelace & Co. = 100%"));
        assert_eq!(field(&posted[0], "colour"), Some("green & blue"));
        assert_eq!(field(&posted[0], "agree"), Some("yes"));
        // Browsers normalise textarea line breaks to CRLF in form submissions.
        assert_eq!(field(&posted[0], "notes"), Some("line one\r\nline two"));
    }

    // The HttpOnly cookie the result page set, and a request outside the browser that carries it.
    assert_eq!(s.cookie("token").unwrap().as_deref(), Some("abc123"));
    assert_eq!(s.cookie("absent").unwrap(), None);
    let (status, body) = http_get(&format!("{base}/echo-cookie"), Some("token=abc123")).unwrap();
    assert_eq!(
        (status, String::from_utf8_lossy(&body).as_ref()),
        (200, "cookie: token=abc123")
    );
    let (status, _) = http_get(&format!("{base}/nothing-here"), None).unwrap();
    assert_eq!(status, 404);

    // Screenshot of the result page: a PNG file with the PNG signature and an IHDR of the viewport's width.
    let dir = TempDir::new("evidentia-wd-selftest").unwrap();
    let png_path = dir.path().join("nested/result.png");
    s.screenshot(&png_path).unwrap();
    let png = std::fs::read(&png_path).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "screenshot is not a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert!(
        width >= 800 && height >= 600,
        "screenshot is {width}x{height}"
    );

    // Back to the form; submitting the form element itself (no click), with the checkbox left unticked.
    s.goto(&format!("{base}/")).unwrap();
    s.fill("#name", "second").unwrap();
    s.submit("#f").unwrap();
    s.wait_for("#result", Duration::from_secs(20)).unwrap();
    assert_eq!(s.text("#got-name").unwrap(), "second");
    assert_eq!(s.text("#got-colour").unwrap(), "red");
    assert!(s.find_all("#got-agree").unwrap().is_empty());
    assert_eq!(posted.lock().unwrap().len(), 2);

    // Errors are values with the WebDriver code, not panics.
    let missing = s.find("#no-such-thing").unwrap_err();
    assert_eq!(missing.code(), Some("no such element"), "{missing}");
    s.goto(&format!("{base}/")).unwrap();
    let no_option = s.select("#colour", "purple").unwrap_err();
    assert!(
        no_option
            .to_string()
            .contains("no option with value \"purple\""),
        "{no_option}"
    );
    let timeout = s
        .wait_for("#never", Duration::from_millis(200))
        .unwrap_err();
    assert!(matches!(timeout, WebDriverError::Timeout(_)), "{timeout}");
}

#[test]
fn a_missing_chromedriver_is_an_error_not_a_panic() {
    let err = ChromeDriver::start(Path::new("/nonexistent/chromedriver")).unwrap_err();
    assert!(matches!(err, WebDriverError::Start(_)), "{err}");
    assert!(
        err.to_string().contains("/nonexistent/chromedriver"),
        "{err}"
    );
}
