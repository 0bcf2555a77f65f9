//! A chromedriver process and a headless Chromium session at a phone's size, with the waits, the
//! accessibility check and the screenshots the browser tests share.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// How long a page may take to show what a step waits for.
pub const WAIT: Duration = Duration::from_secs(20);

/// One browser at a time: two cores, and Chromium is heavy.
pub static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|n| std::env::split_paths(&path).map(|d| d.join(n)).find(|p| p.is_file()))
}

/// A chromedriver process and a session of headless Chromium at a phone's size.
pub struct Browser {
    pub client: Client,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        drop(self.driver.kill());
        drop(self.driver.wait());
    }
}

impl Browser {
    /// Starts a browser, or `None` (with a loud message) when none is installed and `CI` is not set.
    pub async fn start() -> anyhow::Result<Option<Browser>> {
        let chromium = find_program(&["chromium", "chromium-browser", "google-chrome"]);
        let driver = find_program(&["chromedriver"]);
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                anyhow::bail!(
                    "chromium / chromedriver are missing and CI=true: apt-get install -y chromium chromium-driver"
                );
            }
            eprintln!(
                "!!! SKIPPING a browser test: chromium or chromedriver is not installed (apt-get install -y chromium chromium-driver; CI=true makes this fail)"
            );
            return Ok(None);
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child =
            Command::new(driver).arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
        let mut browser_driver = Some(child);
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let http = reqwest::Client::new();
        loop {
            if http.get(format!("{url}/status")).send().await.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            if started.elapsed() > WAIT {
                if let Some(mut c) = browser_driver.take() {
                    drop(c.kill());
                }
                anyhow::bail!("chromedriver did not answer on {url}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": chromium, "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--window-size=412,915", "--lang=en-US"]}),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector).capabilities(caps).connect(&url).await;
        let driver = browser_driver.take().ok_or_else(|| anyhow::anyhow!("no driver"))?;
        let browser = Browser { client: client?, driver };
        browser.client.set_window_size(412, 915).await?;
        Ok(Some(browser))
    }

    /// Waits for an element.
    pub async fn wait_for(&self, css: &str) -> anyhow::Result<fantoccini::elements::Element> {
        match self.client.wait().at_most(WAIT).for_element(Locator::Css(css)).await {
            Ok(e) => Ok(e),
            Err(e) => {
                let url = self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
                let source = self.client.source().await.unwrap_or_default();
                let cut: String = source.chars().take(1500).collect();
                anyhow::bail!("waiting for {css} at {url}: {e}\n{cut}")
            }
        }
    }

    /// Waits until the path of the current URL starts with `prefix`; returns the path.
    pub async fn wait_for_path(&self, prefix: &str) -> anyhow::Result<String> {
        let started = Instant::now();
        loop {
            let path = self.client.current_url().await?.path().to_owned();
            if path.starts_with(prefix) {
                return Ok(path);
            }
            anyhow::ensure!(started.elapsed() < WAIT, "never reached {prefix}; at {path}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the element matching `css` reads `expected` (across a navigation: a stale element is retried).
    pub async fn wait_text(&self, css: &str, expected: &str) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text == expected {
                return Ok(());
            }
            anyhow::ensure!(started.elapsed() < WAIT, "{css} reads {text:?}, never {expected:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until no element matches `css`.
    pub async fn wait_gone(&self, css: &str) -> anyhow::Result<()> {
        let started = Instant::now();
        while !self.client.find_all(Locator::Css(css)).await?.is_empty() {
            anyhow::ensure!(started.elapsed() < WAIT, "{css} is still there");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    pub async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let e = self.wait_for(css).await?;
        e.clear().await?;
        e.send_keys(text).await?;
        Ok(())
    }

    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        self.wait_for(css).await?.click().await?;
        Ok(())
    }

    /// Signs out and waits for the sign-in page (a navigation still in flight would race the next `goto`).
    pub async fn sign_out(&self) -> anyhow::Result<()> {
        self.click("form[action='/logout'] button").await?;
        self.wait_for_path("/login").await?;
        self.wait_for("form[action='/login']").await?;
        Ok(())
    }

    /// Signs in on `/login`.
    pub async fn sign_in(&self, base: &str, email: &str, password: &str) -> anyhow::Result<()> {
        self.client.goto(&format!("{base}/login")).await?;
        self.fill("#email", email).await?;
        self.fill("#password", password).await?;
        self.click("form.stack button[type=submit]").await?;
        self.wait_for("form[action='/logout']").await?;
        Ok(())
    }

    /// A basic accessibility check of the page: `lang` set, one `h1`, every visible form control labelled, every
    /// image with `alt`, text contrast at least 4.5:1 (WCAG AA) against its effective background.
    pub async fn accessible(&self) -> anyhow::Result<()> {
        let problems = self.client.execute(A11Y_CHECK, vec![]).await?;
        let url = self.client.current_url().await?;
        assert_eq!(problems, json!([]), "accessibility problems on {url}");
        Ok(())
    }

    /// Checks the page (`accessible`) and saves it under `target/web-screenshots/{name}.png`.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<()> {
        self.accessible().await?;
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/web-screenshots");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("{name}.png")), self.client.screenshot().await?)?;
        Ok(())
    }

    /// JavaScript errors would show as a missing map: the map must have drawn its panes.
    pub async fn map_drawn(&self) -> anyhow::Result<()> {
        self.wait_for("div.map.leaflet-container .leaflet-map-pane").await?;
        Ok(())
    }
}

const A11Y_CHECK: &str = r#"
const problems = [];
if (!document.documentElement.lang) problems.push('no lang on <html>');
const h1 = document.querySelectorAll('h1').length;
if (h1 !== 1) problems.push(h1 + ' h1 elements');
document.querySelectorAll('input:not([type=hidden]), select, textarea').forEach(el => {
  const labelled = (el.id && document.querySelector('label[for="' + el.id + '"]')) || el.closest('label')
    || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
  if (!labelled) problems.push('unlabelled ' + el.outerHTML.slice(0, 80));
});
document.querySelectorAll('img').forEach(i => { if (!i.hasAttribute('alt')) problems.push('img without alt ' + i.src); });
const rgb = c => (c.match(/[\d.]+/g) || []).map(Number);
const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
const background = el => { for (let e = el; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
  if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c; } return [255, 255, 255]; };
document.querySelectorAll('main p, main a, main button, main label, main dt, main dd, main td, main h1, main h2, main .badge, main .countdown, header a, header button')
  .forEach(el => { if (!el.textContent.trim() || el.closest('.leaflet-container')) return;
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) problems.push('contrast ' + ratio.toFixed(2) + ' on ' + el.outerHTML.slice(0, 60)); });
return problems;
"#;
