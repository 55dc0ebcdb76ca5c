#!/usr/bin/env python3
"""The Leitstelle console in headless Chromium (Selenium WebDriver).

Run by the cargo test `tests/browser.rs`, which starts a real server with seeded users
and passes one JSON argument: {"base", "password", "ingest": {tenant: token}, "artifacts"}.
Every step checks what an analyst would see; a failed check raises and exits non-zero.
Screenshots of each main page go to the artifacts folder.
"""

import json
import sys
import tempfile
import time
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

CFG = json.loads(sys.argv[1])
BASE = CFG["base"]
PASSWORD = CFG["password"]
ART = CFG["artifacts"]
# chromium (default) or firefox.
BROWSER = CFG.get("browser", "chromium")

# Event data is attacker-controlled: these payloads must render as text everywhere.
XSS_SCRIPT = "<script>window.__xss='script'</script>"
XSS_IMG = '"><img src=x id=xss-img onerror="window.__xss=\'img\'">'
MARKER = "leitstelle-e2e-marker"


def step(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def sysmon_event(host, command_line):
    return {
        "Event": {
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
                "EventID": 1,
                "Channel": "Microsoft-Windows-Sysmon/Operational",
                "Computer": host,
                "TimeCreated": {"#attributes": {"SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())}},
            },
            "EventData": {
                "Image": "C:\\Windows\\System32\\cmd.exe " + XSS_IMG,
                "CommandLine": command_line,
                "User": "CORP\\alice",
            },
        }
    }


def send_events(tenant, events):
    body = "\n".join(json.dumps(e) for e in events).encode()
    req = urllib.request.Request(
        BASE + "/api/v1/events",
        data=body,
        headers={"Authorization": "Bearer " + CFG["ingest"][tenant]},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        check(resp.status in (200, 202), f"events refused: {resp.status}")


def browser():
    if BROWSER == "firefox":
        opts = webdriver.FirefoxOptions()
        opts.binary_location = CFG["firefox"]
        opts.add_argument("-headless")
        d = webdriver.Firefox(service=webdriver.FirefoxService(CFG["geckodriver"]), options=opts)
        d.set_window_size(1440, 1000)
        return d
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,1000",
              "--disable-gpu", "--no-first-run"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


class Session:
    def __init__(self, user):
        self.user = user
        self.d = browser()
        self.wait = WebDriverWait(self.d, 10)

    def go(self, path):
        self.d.get(BASE + path)
        self.assert_inert()

    def login(self):
        self.d.get(BASE + "/")
        # A browser at / lands on the login page (then the queue).
        self.wait.until(EC.presence_of_element_located((By.ID, "user")))
        self.d.find_element(By.ID, "user").send_keys(self.user)
        self.d.find_element(By.ID, "password").send_keys(PASSWORD)
        self.d.find_element(By.CSS_SELECTOR, "section.login button[type=submit]").click()
        self.wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "header.top .who")))
        check(self.d.find_element(By.CSS_SELECTOR, ".who").text == self.user, "logged in as the user")
        step(f"{self.user} logged in, at {self.d.current_url}")

    def css(self, sel):
        return self.d.find_element(By.CSS_SELECTOR, sel)

    def all(self, sel):
        return self.d.find_elements(By.CSS_SELECTOR, sel)

    def text(self):
        return self.d.find_element(By.TAG_NAME, "body").text

    def navigating(self, action):
        """Runs `action` (a click) and waits for the next page to have loaded."""
        self.d.execute_script("window.__before_nav = true")

        def loaded(d):
            try:
                return d.execute_script(
                    "return !window.__before_nav && document.readyState === 'complete'")
            except WebDriverException:
                return False  # between documents

        action()
        self.wait.until(loaded)

    def click_to(self, element):
        self.navigating(element.click)
        self.assert_inert()

    def submit(self, form_sel, button_sel="button[type=submit]"):
        self.click_to(self.css(form_sel).find_element(By.CSS_SELECTOR, button_sel))

    def assert_inert(self):
        """No payload ran and none became markup."""
        fired = self.d.execute_script("return window.__xss || null")
        check(fired is None, f"{self.d.current_url}: injected script ran ({fired})")
        check(not self.all("#xss-img"), f"{self.d.current_url}: event data became an <img>")
        if BROWSER == "chromium":  # geckodriver has no log endpoint
            errors = [e for e in self.d.get_log("browser") if e.get("level") == "SEVERE"
                      and "Content Security Policy" in e.get("message", "")]
            check(not errors, f"{self.d.current_url}: CSP violations: {errors}")

    def shot(self, name):
        path = f"{ART}/{name}.png"
        self.d.save_screenshot(path)
        step(f"screenshot {path}")

    def quit(self):
        self.d.quit()


def live_alert_and_triage(ann):
    ann.go("/alerts?tenant=acme")
    before = {r.get_attribute("data-id") for r in ann.all("#queue tbody tr[data-id]")}
    # Give the page's event stream a moment to connect, then send the event.
    time.sleep(0.5)
    send_events("acme", [sysmon_event("WS-" + "1", f"cmd.exe /c {MARKER} {XSS_SCRIPT} {XSS_IMG}")])
    step("event sent; waiting for its alert to appear without reloading")
    html = ann.d.find_element(By.TAG_NAME, "html")
    try:
        row = WebDriverWait(ann.d, 15).until(
            lambda d: next((r for r in d.find_elements(By.CSS_SELECTOR, "#queue tbody tr[data-id]")
                            if r.get_attribute("data-id") not in before), None))
    except TimeoutException:
        raise AssertionError("the alert did not arrive live in the queue")
    check(html.is_displayed(), "the page was not reloaded")
    alert_id = row.get_attribute("data-id")
    check("E2E marker" in row.text, f"the new row is the rule's alert: {row.text}")
    ann.assert_inert()
    step(f"alert {alert_id} arrived live")
    ann.shot("alert-queue")

    ann.click_to(row.find_element(By.CSS_SELECTOR, "td.title a"))
    check(XSS_SCRIPT in ann.text(), "the payload shows as text on the alert page")
    ann.shot("alert-detail")
    ann.submit("form:has(button[data-action=acknowledge])", "button[data-action=acknowledge]")
    check("acknowledged" in ann.css("dl.facts").text, "acknowledged")
    ann.css("form:has(button[data-action=escalate]) input[name=note]").send_keys("needs IR")
    ann.submit("form:has(button[data-action=escalate])", "button[data-action=escalate]")
    check("escalated" in ann.css("dl.facts").text, "escalated")
    step("acknowledged and escalated")
    # Open a case from the alert.
    ann.submit("section.case-forms form[action='/cases']")
    check("/cases/" in ann.d.current_url, f"on the case page: {ann.d.current_url}")
    case_url = ann.d.current_url
    Select(ann.css("form[action$='/observables'] select[name=kind]")).select_by_value("host")
    ann.css("form[action$='/observables'] input[name=value]").send_keys("WS-1")
    ann.css("form[action$='/observables'] input[name=note]").send_keys(XSS_SCRIPT)
    ann.submit("form[action$='/observables']")
    check("ws-1" in ann.css("#observables").text, "the observable is listed")
    ann.css("form[action$='/tasks'] input[name=title]").send_keys("Collect memory image")
    ann.submit("form[action$='/tasks']")
    check("Collect memory image" in ann.css("#tasks").text, "the task is listed")
    # Evidence: uploaded by the page's script, listed with its hash, downloadable.
    evidence = f"{tempfile.mkdtemp()}/evidence-{int(time.time())}.txt"
    with open(evidence, "w") as f:
        f.write("netstat output " + XSS_SCRIPT)
    ann.css("form[data-upload] input[type=file]").send_keys(evidence)
    ann.click_to(ann.css("form[data-upload] button[type=submit]"))
    link = ann.css("#evidence a[download]")
    check(link.text.startswith("evidence-"), f"the evidence is listed: {ann.css('#evidence').text}")
    body = ann.d.execute_async_script(
        "const done = arguments[1]; fetch(arguments[0]).then(r => r.text()).then(done)",
        link.get_attribute("href"))
    check(body == "netstat output " + XSS_SCRIPT, f"the evidence downloads unchanged: {body!r}")
    ann.shot("case-detail")
    step(f"case {case_url} opened with an observable and a task")
    # Back to the alert: close it with a verdict.
    ann.go(f"/alerts/{alert_id}")
    Select(ann.css("form:has(button[data-action=close]) select[name=verdict]")).select_by_value("true_positive")
    ann.css("form:has(button[data-action=close]) input[name=reason]").send_keys("confirmed, host reimaged")
    ann.submit("form:has(button[data-action=close])", "button[data-action=close]")
    facts = ann.css("dl.facts").text
    check("closed" in facts and "true positive" in facts, f"closed with a verdict: {facts}")
    step("closed with a verdict")
    ann.go("/cases")
    ann.shot("cases")
    return alert_id, case_url


def hunt(ann):
    """Runs a hunt and narrows it by clicking a value in the field sidebar."""
    # A second machine with the same command line: the hunt finds both, the filter one.
    send_events("acme", [sysmon_event("WS-2", f"cmd.exe /c {MARKER} second")])
    q = urllib.parse.quote(MARKER)
    deadline = time.time() + 15
    while True:
        ann.go(f"/hunt?q={q}&range=30d")
        if len(ann.all("table.hits tr.hit")) >= 2:
            break
        check(time.time() < deadline, f"the event never became searchable: {ann.text()[:500]}")
        time.sleep(0.5)
    check(XSS_SCRIPT in ann.text() or ann.all("table.hits details"), "results are listed")
    hits_before = len(ann.all("table.hits tr.hit"))
    # The histogram is drawn (SVG, no script): its bars and axis labels are really rendered.
    rendered = ann.d.execute_script("""
        const sizes = (sel) => Array.from(document.querySelectorAll(sel))
            .map((e) => e.getBoundingClientRect()).filter((r) => r.width > 0 && r.height > 0);
        return [sizes('svg.histogram rect.bar').length, sizes('svg.histogram text.tick').length];""")
    check(rendered[0] >= 1 and rendered[1] == 2, f"histogram bars and ticks rendered: {rendered}")
    # Open the host field in the sidebar and filter on its value (the attacked machine).
    fields = ann.all("aside.fields-sidebar details")
    check(fields, "the field sidebar lists fields")
    host = next((f for f in fields if f.find_element(By.TAG_NAME, "summary").text.startswith("host")),
                fields[0])
    if host.get_attribute("open") is None:
        host.find_element(By.TAG_NAME, "summary").click()
    links = host.find_elements(By.CSS_SELECTOR, "a.add")
    link = next((a for a in links if "WS-1" in (a.get_attribute("title") or "")), None)
    check(link is not None, "the host field offers WS-1 to filter on")
    clause = link.get_attribute("title").removeprefix("Filter for ")
    ann.click_to(link)
    box = ann.css("input[name=q]").get_attribute("value")
    check(clause in box and MARKER in box, f"the clicked value {clause} was added to the query: {box}")
    hits_after = len(ann.all("table.hits tr.hit"))
    check(0 < hits_after < hits_before, f"the filter narrowed the hunt ({hits_before} -> {hits_after})")
    # Expanding a hit shows its fields; event data stays text.
    ann.css("table.hits tr.hit details summary").click()
    ann.assert_inert()
    step(f"hunt narrowed with {clause} ({hits_before} -> {hits_after} hits)")
    ann.shot("hunt")


EVIL_HOST = "WS-3<b id=xss-b>" + XSS_IMG


def inert_everywhere(ann, case_url):
    """Event data with HTML/JS payloads (command line, image, host name) is shown as text on
    every page that shows events or values taken from them."""
    send_events("acme", [sysmon_event(EVIL_HOST, f"cmd.exe /c {MARKER} {XSS_SCRIPT}")])
    deadline = time.time() + 15
    while True:
        ann.go("/alerts?tenant=acme")
        row = next((r for r in ann.all("#queue tbody tr[data-id]") if "WS-3" in r.text), None)
        if row:
            break
        check(time.time() < deadline, "the alert of the hostile host never showed")
        time.sleep(0.5)
    check("<b id=xss-b>" in row.text and not ann.all("#xss-b"), "the host shows as text in the queue")
    evil_alert = row.get_attribute("data-id")
    pages = [
        ("/alerts?tenant=acme", [EVIL_HOST]),
        (f"/alerts/{evil_alert}", [EVIL_HOST, XSS_SCRIPT]),
        (f"/hunt?q={urllib.parse.quote(MARKER)}&range=30d", [XSS_SCRIPT]),
        ("/dashboard", []),
        (case_url.removeprefix(BASE), [XSS_SCRIPT]),
    ]
    for path, texts in pages:
        ann.go(path)
        for d in ann.all("details"):  # open every expandable part (raw events, hits)
            ann.d.execute_script("arguments[0].open = true", d)
        ann.assert_inert()
        check(not ann.all("#xss-b"), f"{path}: event data became markup")
        body = ann.text()
        for t in texts:
            check(t in body, f"{path}: the payload {t!r} is shown as text")
    step(f"payloads inert on {len(pages)} pages")


RULE = """title: Browser test rule
id: 0d2c6a55-2f0e-4c55-9d0e-b0b0b0b0b001
status: experimental
description: Proposed from the browser test.
level: medium
logsource:
  product: windows
  category: process_creation
detection:
  selection:
    CommandLine|contains: browser-test-proposal
  condition: selection
"""


def rule_review(erin, finn):
    """erin proposes a new rule; she cannot approve it; finn can, and it goes live."""
    erin.go("/rules/new")
    erin.css("textarea#yaml").send_keys(RULE)
    erin.css("input#note").send_keys("new detection from the browser test")
    erin.submit("form.propose")
    change_url = erin.d.current_url
    check("/rules/changes/" in change_url, f"on the change page: {change_url}")
    check(not erin.all("button[data-action=approve]"), "the author is not offered approval")
    step(f"erin proposed {change_url}; no approve button for her")
    erin.shot("rule-change-author")
    finn.d.get(change_url)
    finn.assert_inert()
    check(finn.all("button[data-action=approve]"), "another engineer may approve")
    finn.css("form.review textarea[name=note]").send_keys("looks right")
    finn.submit("form.review", "button[data-action=approve]")
    check("approved" in finn.text().lower(), f"the change is approved: {finn.text()[:400]}")
    step("finn approved it")
    finn.go("/rules?q=Browser+test+rule")
    check("Browser test rule" in finn.text(), "the approved rule is in the rule set")
    finn.go("/rules/changes")
    finn.shot("rules-review-queue")
    finn.go("/rules")
    finn.shot("rules")


def customer_view(cora, acme_alert):
    send_events("beta", [sysmon_event("BETA-PC", f"cmd.exe /c {MARKER} beta")])
    deadline = time.time() + 15
    while True:
        cora.go("/alerts")
        rows = cora.all("#queue tbody tr[data-id]")
        if rows:
            break
        check(time.time() < deadline, "beta's alert never showed for its customer")
        time.sleep(0.5)
    tenants = {r.find_element(By.CSS_SELECTOR, "td.tenant").text for r in rows}
    check(tenants == {"beta"}, f"a customer sees only their tenant: {tenants}")
    check(acme_alert not in {r.get_attribute("data-id") for r in rows}, "acme's alert is not listed")
    cora.go(f"/alerts/{acme_alert}")
    check("404" in cora.text() or "No such" in cora.text(), "acme's alert is not reachable")
    options = [o.get_attribute("value") for o in cora.all("#tenant-switch option")]
    check(set(options) == {"", "beta"}, f"the tenant switcher offers only beta: {options}")
    cora.go("/alerts")
    cora.shot("customer-queue")
    step("customer sees only beta")


def keyboard_and_theme(ann):
    """The queue works from the keyboard (j moves, Enter opens); the theme switches to dark."""
    ann.go("/alerts?tenant=acme&filtered=1")
    body = ann.css("body")
    body.send_keys("j")
    focused = ann.d.switch_to.active_element
    check(focused.tag_name == "tr" and focused.get_attribute("data-id"), "j focuses the first row")
    ann.navigating(lambda: focused.send_keys(Keys.ENTER))
    check("/alerts/" in ann.d.current_url, f"Enter opens the alert: {ann.d.current_url}")
    # Switching tenant keeps the view (here the dashboard's period).
    ann.go("/dashboard?period=7d")
    ann.navigating(lambda: Select(ann.css("#tenant-switch")).select_by_value("acme"))
    url = ann.d.current_url
    check("tenant=acme" in url and "period=7d" in url, f"the switcher kept the period: {url}")
    ann.go("/dashboard")
    ann.css("[data-theme-toggle]").click()
    theme = ann.d.execute_script("return document.documentElement.dataset.theme")
    check(theme == "dark", f"the theme switched to dark ({theme})")
    bg = ann.d.execute_script("return getComputedStyle(document.body).backgroundColor")
    check(bg != "rgb(255, 255, 255)", f"dark background ({bg})")
    ann.shot("dashboard-dark")
    ann.css("[data-theme-toggle]").click()
    step("keyboard navigation and dark mode work")


def main():
    sessions = []
    try:
        ann = Session("ann")
        sessions.append(ann)
        ann.login()
        alert_id, case_url = live_alert_and_triage(ann)
        hunt(ann)
        inert_everywhere(ann, case_url)
        for path, name in (("/dashboard", "dashboard"), ("/tenants", "tenants")):
            ann.go(path)
            ann.shot(name)
        keyboard_and_theme(ann)
        erin, finn = Session("erin"), Session("finn")
        sessions += [erin, finn]
        erin.login()
        finn.login()
        rule_review(erin, finn)
        cora = Session("cora")
        sessions.append(cora)
        cora.login()
        customer_view(cora, alert_id)
        root = Session("root")
        sessions.append(root)
        root.login()
        root.go("/admin")
        root.shot("admin")
        step("all console checks passed")
    except Exception:
        for s in sessions:
            try:
                s.shot(f"failure-{s.user}")
                print(f"--- {BROWSER}: {s.user} at {s.d.current_url}:\n{s.text()[:3000]}", flush=True)
            except Exception:
                pass
        raise
    finally:
        for s in sessions:
            s.quit()


if __name__ == "__main__":
    main()
