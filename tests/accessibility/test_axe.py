"""Accessibility: axe-core 4.10 (axe-selenium-python 3.0.0, Python 3.12) over every page and tab of the dashboard in
Chromium, signed in as admin and viewer, on the demo tenant (with data) and on an empty tenant, for the WCAG 2.0 and
2.1 A and AA rules. Any violation fails, with axe's own report of what and where.
"""
import os
import shutil
import sys
import tempfile
import time

import pytest
from axe_selenium_python import Axe
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import harness  # noqa: E402

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BEST_PRACTICES = ["empty-table-header", "landmark-unique"]
PAGES = ["#/teams", "#/agents", "#/routing", "#/analytics", "#/what-if", "#/channels", "#/floor", "#/wallboard",
         "#/wallboard?sector=billing"]
TEAM_TABS = ["members", "agents", "performance", "settings"]


@pytest.fixture(scope="module")
def server():
    workdir = tempfile.mkdtemp(prefix="switchboard-axe-")
    env = dict(os.environ, SWITCHBOARD_SQLITE_PATH=os.path.join(workdir, "demo.sqlite"), LOG_LEVEL="warning",
               SWITCHBOARD_PUBLIC_URL=harness.TEST_PUBLIC_URL)
    env.pop("DATABASE_URL", None)
    if os.environ.get("SWITCHBOARD_BROWSER_DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["SWITCHBOARD_BROWSER_DATABASE_URL"]
    env.pop("SWITCHBOARD_JWT_SECRET", None)
    process, base = harness.start(env, harness.free_port(), os.path.join(workdir, "server.log"), command="demo")
    yield {"base": base, "token": lambda client_id, role, agent_id=None: harness.token(env, client_id, role, agent_id=agent_id)}
    process.terminate()
    process.wait(timeout=20)
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900", "--disable-gpu"]:
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


def settle(driver):
    """The page has rendered: nothing says it is loading any more, and charts had a moment to draw."""
    WebDriverWait(driver, 15).until(lambda d: d.execute_script(
        "return document.readyState === 'complete' && !document.querySelector('.loading')"))
    time.sleep(0.5)


def violations(driver):
    """axe's violations, and a report of them: the rule, and each element with what to fix."""
    axe = Axe(driver)
    axe.inject()
    found = axe.run(options={"runOnly": {"type": "tag", "values": TAGS}})["violations"]
    # Two best-practice rules beside the WCAG ones: an empty table header, a landmark that is not unique.
    found += axe.run(options={"runOnly": {"type": "rule", "values": BEST_PRACTICES}})["violations"]
    lines = []
    for violation in found:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"][:8]:
            summary = " ".join((node.get("failureSummary") or "").split())
            lines.append(f"    {', '.join(map(str, node['target']))}: {summary[:300]}")
    return found, "\n".join(lines)


def check(driver, label, failures):
    settle(driver)
    found, report = violations(driver)
    if found:
        failures.append(f"{label}:\n{report}")
    # Every chart drawn on a canvas has its numbers as a table beside it (a chart alone says nothing to a reader).
    for chart in driver.find_elements(By.CSS_SELECTOR, "[data-test=chart]"):
        if chart.find_elements(By.CSS_SELECTOR, "canvas") and not chart.find_elements(By.CSS_SELECTOR, "[data-test=chart-numbers] table"):
            failures.append(f"{label}: the chart '{chart.text.splitlines()[0]}' has no table of its numbers")


@pytest.mark.parametrize("tenant", ["demo", "empty"])
@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_every_page_has_no_violations(server, browser, tenant, role):
    base = server["base"]
    client_id = "demo" if tenant == "demo" else f"empty-{role}"
    browser.get(f"{base}/#token={server['token'](client_id, role)}")
    failures = []
    for page in PAGES:
        browser.get(f"{base}/{page}")
        check(browser, f"{tenant}/{role} {page}", failures)
    if role == "admin":
        # The states a form leads to: a route's breakdown, a what-if's results.
        browser.get(f"{base}/#/routing")
        settle(browser)
        browser.find_element(By.CSS_SELECTOR, "[data-test=route-sector]").send_keys("billing")
        browser.find_element(By.CSS_SELECTOR, "[data-test=route-form] button[type=submit]").click()
        WebDriverWait(browser, 15).until(lambda d: d.find_element(By.CSS_SELECTOR, "[data-test=route-result]").text)
        check(browser, f"{tenant}/{role} a route's breakdown", failures)
        browser.get(f"{base}/#/what-if")
        settle(browser)
        browser.find_element(By.CSS_SELECTOR, "[data-test=whatif-run]").click()
        WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-test=whatif-row]")
                                         or d.find_element(By.CSS_SELECTOR, "[data-test=whatif-results]").text)
        check(browser, f"{tenant}/{role} what-if results", failures)
    if tenant == "demo":
        browser.get(f"{base}/#/teams")
        settle(browser)
        team = browser.find_element(By.CSS_SELECTOR, "[data-test=team-card]").get_attribute("data-team-id")
        for tab in TEAM_TABS:
            browser.get(f"{base}/#/teams/{team}/{tab}")
            check(browser, f"{tenant}/{role} team {tab}", failures)
        browser.get(f"{base}/#/agents")
        settle(browser)
        agent = browser.find_element(By.CSS_SELECTOR, "[data-test=agent-row]").get_attribute("data-agent-id")
        browser.get(f"{base}/#/agents/{agent}")
        check(browser, f"{tenant}/{role} an agent's page", failures)
        # A Twilio channel's page with its addresses and request log (made once, by whichever pass comes first).
        admin_token = server["token"]("demo", "admin")
        if not harness.call(base, admin_token, "GET", "/api/channels")[1]["data"]:
            harness.twilio_channel(base, admin_token, "Axe texts")
        browser.get(f"{base}/#/channels")
        settle(browser)
        channel = browser.find_element(By.CSS_SELECTOR, "[data-test=channel-row]").get_attribute("data-channel-id")
        browser.get(f"{base}/#/channels/{channel}")
        check(browser, f"{tenant}/{role} a channel's page", failures)
    assert not failures, "\n\n".join(failures)


def test_desk_has_no_violations(server, browser):
    """An agent's desk with everything on it at once: an offer with its countdown, a call in progress with its
    form, after-call work with Ready; and the same desk empty."""
    base = server["base"]
    client_id = f"axe-desk-{int(time.time())}"
    api = harness.api_as(base, server["token"](client_id, "admin"))
    agent = harness.desk_agent(api, "Ada Axe")
    browser.get(f"{base}/#token={server['token'](client_id, 'agent', agent_id=agent['id'])}")
    failures = []
    check(browser, "an empty desk", failures)
    harness.fill_desk(api)
    browser.get(f"{base}/#/desk")
    WebDriverWait(browser, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-test=desk-offer]")
                                     and d.find_elements(By.CSS_SELECTOR, "[data-test=desk-call]")
                                     and d.find_elements(By.CSS_SELECTOR, "[data-test=desk-ready]"))
    check(browser, "a busy desk", failures)
    assert not failures, "\n\n".join(failures)


def test_sign_in_has_no_violations(server, browser):
    browser.get(f"{server['base']}/")
    browser.execute_script("localStorage.clear(); sessionStorage.clear();")
    browser.get(f"{server['base']}/#/teams")
    failures = []
    check(browser, "sign-in", failures)
    assert not failures, "\n\n".join(failures)
