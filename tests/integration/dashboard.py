#!/usr/bin/env python3
"""The dashboard in headless Chromium, driven by Selenium against a running
daemon (test_dashboard.sh starts it and deploys DASH_FN).

Settings, from the environment:
  DASH_URL       the management API's base URL
  DASH_TOKEN     its token
  DASH_CALL_URL  DASH_FN's HTTP invocation URL, called meanwhile
  DASH_FN        a deployed function that logs "log:BODY" and answers
  DASH_ZIP       a function's zip to deploy through the page as "fromui":
                 it answers "ui:BODY"
  DASH_DIR       the same function's folder, deployed as "fromdir"
  DASH_SHOTS     the folder the screenshots go to
  DASH_PROFILE   the browser's profile folder (removed by the caller)

With the argument no-auth, only what a daemon run with --no-auth shows.

Prints one line per check: "ok NAME" or "FAIL NAME: why".
"""
import os
import re
import sys
import threading
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

ENV = os.environ
URL, TOKEN, FN = ENV["DASH_URL"], ENV["DASH_TOKEN"], ENV["DASH_FN"]
SHOTS = ENV["DASH_SHOTS"]
failed = 0


def check(name, want, got):
    global failed
    if want == got:
        print(f"ok {name}", flush=True)
    else:
        failed += 1
        print(f"FAIL {name}: expected {want!r} got {got!r}", flush=True)


def browser():
    opts = webdriver.ChromeOptions()
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1500,1100", "--user-data-dir=" + ENV["DASH_PROFILE"],
                "--no-first-run", "--disable-background-networking"]:
        opts.add_argument(arg)
    opts.binary_location = "/usr/bin/chromium"
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    d.set_page_load_timeout(30)
    d.set_script_timeout(30)
    return d


def until(d, seconds, fn):
    """fn(d)'s first true value within seconds, or None."""
    try:
        return WebDriverWait(d, seconds, poll_frequency=0.25).until(lambda x: fn(x))
    except TimeoutException:
        return None


def text(d, css):
    els = d.find_elements(By.CSS_SELECTOR, css)
    return els[0].text if els else None


def shot(d, name):
    path = os.path.join(SHOTS, name)
    d.save_screenshot(path)
    print(f"# screenshot {path}", flush=True)


def call(body):
    req = urllib.request.Request(ENV["DASH_CALL_URL"], data=body.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()


class Caller(threading.Thread):
    """Calls DASH_FN a few times a second, for the charts to have calls."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop, self.n = threading.Event(), 0

    def run(self):
        while not self.stop.is_set():
            try:
                call(f"c{self.n}")
                self.n += 1
            except OSError:
                pass
            self.stop.wait(0.1)


def row(fn):
    return f'#functions tr[data-fn="{fn}"]'


def login(d):
    d.get(URL + "/")
    check("the page asks for the token", True,
          until(d, 10, lambda x: x.find_element(By.ID, "login").is_displayed()) or False)
    d.find_element(By.ID, "token").send_keys("not-the-token")
    d.find_element(By.ID, "login-button").click()
    check("a wrong token is refused", "wrong token",
          until(d, 10, lambda x: text(x, "#login-error") or None))
    shot(d, "01-login.png")
    d.find_element(By.ID, "token").clear()
    d.find_element(By.ID, "token").send_keys(TOKEN)
    d.find_element(By.ID, "login-button").click()
    check("the right token opens it", True,
          until(d, 10, lambda x: x.find_element(By.ID, "main").is_displayed()) or False)
    check("the token is kept for the session only",
          [TOKEN, 0], d.execute_script(
              "return [sessionStorage.getItem('tinyfaas-token'), localStorage.length]"))
    d.refresh()
    check("a reload asks for no token again", True,
          until(d, 10, lambda x: x.find_element(By.ID, "main").is_displayed()) or False)


def functions(d):
    got = until(d, 10, lambda x: text(x, row(FN) + " .handlers"))
    check(f"{FN} listed with its env", "binary", text(d, row(FN) + " .env"))
    check(f"{FN}: desired handlers", "/1", (got or "")[-2:])


def number(s):
    m = re.match(r"^([0-9.]+)", s or "")
    return float(m.group(1)) if m else None


def charts(d, caller):
    state = until(d, 15, lambda x: (lambda t: t if t and "…" not in t else None)(
        text(x, "#metrics-state")))
    # The daemon serves /metrics: "metrics unavailable" here is a failure.
    check("metrics read", True, (state or "").startswith("metrics every"))
    r = row(FN)

    def points(x):
        svg = x.find_element(By.CSS_SELECTOR, r + ' svg[data-series="calls"]')
        return int(svg.get_attribute("data-points") or 0)

    rate = until(d, 40, lambda x: (lambda v: v if v and v > 0 and points(x) >= 2 else None)(
        number(text(x, r + " .calls .value"))))
    check("charts: calls/s above 0 while called", True, rate is not None and caller.n > 0)
    check("charts: a line of two points or more", True, points(d) >= 2)
    check("charts: drawn as a line", True, bool(d.find_elements(By.CSS_SELECTOR, r + " .calls svg polyline")))
    check("charts: no errors", "0.0 %", text(d, r + " .errors .value"))
    lat = [text(d, r + f" .{q} .value") or "" for q in ("p50", "p99")]
    check("charts: p50 and p99 latency", [True, True], [bool(re.match(r"^[0-9.]+ m?s$", v)) for v in lat])
    mem, up = text(d, "#memory"), text(d, "#uptime")
    check("daemon memory and uptime", [True, True],
          [bool(re.match(r"^[0-9.]+ [kM]B$", mem or "")), bool(re.search(r"\d+ (s|min|h)", up or ""))])


def logs(d):
    Select(d.find_element(By.ID, "logs-fn")).select_by_value(FN)
    mark = f"mark-{os.getpid()}-{int(time.time())}"
    time.sleep(0.5)
    call(mark)
    seen = until(d, 20, lambda x: mark in (text(x, "#logs") or ""))
    check("a followed log shows the line a call wrote", True, bool(seen))
    shot(d, "02-functions-logs.png")


def deploy(d, name, field, path):
    """Deploys name through the page from a zip file or a folder (field)."""
    for el in ("deploy-zip", "deploy-folder", "deploy-result"):
        d.execute_script("const e = document.getElementById(arguments[0]);"
                         " if (e.tagName === 'INPUT') e.value = ''; else e.textContent = ''", el)
    d.find_element(By.ID, "deploy-name").clear()
    d.find_element(By.ID, "deploy-name").send_keys(name)
    Select(d.find_element(By.ID, "deploy-env")).select_by_value("binary")
    d.find_element(By.ID, field).send_keys(path)
    d.find_element(By.ID, "deploy-button").click()
    res = until(d, 90, lambda x: (lambda t: t if t and not t.startswith("deploying") else None)(
        text(x, "#deploy-result")))
    how = "a zip file" if field == "deploy-zip" else "a folder zipped in the page"
    check(f"deploy {how}: status", "200", (res or "").split(" ")[0])
    check(f"deploy {how}: its URL", True, f"/{name}" in (res or ""))
    check(f"deploy {how}: listed", True,
          bool(until(d, 10, lambda x: x.find_elements(By.CSS_SELECTOR, row(name)))))


def invoke(d, name, body):
    """Invokes name through the page; it answers "ui:BODY"."""
    until(d, 10, lambda x: x.find_elements(By.CSS_SELECTOR, f'#invoke-fn option[value="{name}"]'))
    Select(d.find_element(By.ID, "invoke-fn")).select_by_value(name)
    d.find_element(By.ID, "invoke-body").clear()
    d.find_element(By.ID, "invoke-body").send_keys(body)
    d.find_element(By.ID, "invoke-button").click()
    status = until(d, 30, lambda x: (lambda t: t if t and t[0].isdigit() else None)(
        text(x, "#invoke-status")))
    want = ("ui:" + body).encode()
    check(f"invoke {name} through the page: status and size", f"200 · {len(want)} bytes",
          " · ".join((status or "").split(" · ")[:2]))
    got = d.execute_script("return document.getElementById('invoke-answer').textContent")
    check(f"invoke {name} through the page: the exact answer", want, got.encode())


def scale_and_delete(d):
    threads = d.find_element(By.CSS_SELECTOR, row(FN) + " input.threads")
    threads.clear()
    threads.send_keys("2")
    d.find_element(By.CSS_SELECTOR, row(FN) + " button.scale").click()
    check("scale through the page", True, bool(until(
        d, 60, lambda x: (text(x, "#action-result") or "").startswith(f"scale {FN}: 200"))))
    check("scaled: desired handlers", True,
          bool(until(d, 10, lambda x: (text(x, row(FN) + " .handlers") or "").endswith("/2"))))
    for name in ("fromui", "fromdir"):
        d.find_element(By.CSS_SELECTOR, row(name) + " button.delete").click()
        until(d, 5, lambda x: x.switch_to.alert).accept()
        check(f"delete {name} through the page", True, bool(until(
            d, 60, lambda x: (text(x, "#action-result") or "").startswith(f"delete {name}: 200"))))
        check(f"deleted {name} leaves the list", True,
              bool(until(d, 10, lambda x: not x.find_elements(By.CSS_SELECTOR, row(name)))))
    shot(d, "04-scaled-deleted.png")


def console_errors(d):
    """Script errors; failed requests (the wrong token's 401, a 404 from a
    missing /metrics) are the page's expected traffic."""
    return [e["message"] for e in d.get_log("browser")
            if e["level"] == "SEVERE" and e.get("source") != "network"]


def no_auth():
    """Against a daemon run with --no-auth: the page asks for no token."""
    d = browser()
    try:
        d.get(URL + "/")
        check("--no-auth: the page opens without a token", True,
              until(d, 10, lambda x: x.find_element(By.ID, "main").is_displayed()) or False)
        check("--no-auth: no login, nothing to forget", [False, False],
              [d.find_element(By.ID, "login").is_displayed(),
               d.find_element(By.ID, "logout").is_displayed()])
        check("--no-auth: functions listed", True,
              bool(until(d, 10, lambda x: x.find_elements(By.CSS_SELECTOR, row(FN)))))
        shot(d, "05-no-auth.png")
    finally:
        d.quit()
    return 1 if failed else 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "no-auth":
        return no_auth()
    d = browser()
    caller = Caller()
    try:
        login(d)
        functions(d)
        caller.start()
        charts(d, caller)
        logs(d)
        deploy(d, "fromui", "deploy-zip", ENV["DASH_ZIP"])
        invoke(d, "fromui", "ping from the page")
        shot(d, "03-deploy-invoke.png")
        deploy(d, "fromdir", "deploy-folder", ENV["DASH_DIR"])
        invoke(d, "fromdir", "from a folder")
        scale_and_delete(d)
        check("no script error in the console", [], console_errors(d))
        d.find_element(By.ID, "logout").click()
        check("forgetting the token asks for it again", [True, None], d.execute_script(
            "return [!document.getElementById('login').hidden,"
            " sessionStorage.getItem('tinyfaas-token')]"))
    except Exception:
        shot(d, "99-error.png")
        raise
    finally:
        caller.stop.set()
        d.quit()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
