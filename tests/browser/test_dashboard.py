"""Browser tests of the dashboard in a real headless Chromium.

Starts `switchboard demo` on a temporary SQLite database, signs in with tokens printed by `switchboard token`, and
walks through what a manager does every day. Screenshots of each page go to $SCREENSHOT_DIR
(default: ci-artifacts/screenshots).
"""
import os
import shutil
import sys
import tempfile
import time

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import harness  # noqa: E402

ROOT = harness.ROOT
SCREENSHOTS = os.environ.get("SCREENSHOT_DIR", os.path.join(ROOT, "ci-artifacts", "screenshots"))
PREFIX = os.environ.get("SCREENSHOT_PREFIX", "")


@pytest.fixture(scope="module")
def server():
    """`switchboard demo` in development mode (its own generated secret), on SQLite or the database named by
    SWITCHBOARD_BROWSER_DATABASE_URL."""
    workdir = tempfile.mkdtemp(prefix="switchboard-browser-")
    env = dict(os.environ, SWITCHBOARD_SQLITE_PATH=os.path.join(workdir, "demo.sqlite"), LOG_LEVEL="warning",
               SWITCHBOARD_PUBLIC_URL=harness.TEST_PUBLIC_URL)
    env.pop("DATABASE_URL", None)
    if os.environ.get("SWITCHBOARD_BROWSER_DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["SWITCHBOARD_BROWSER_DATABASE_URL"]
    env.pop("SWITCHBOARD_JWT_SECRET", None)
    process, base = harness.start(env, harness.free_port(), os.path.join(workdir, "server.log"), command="demo")

    def token(role, ttl=3600, client="demo", agent_id=None):
        return harness.token(env, client, role, ttl, agent_id=agent_id)

    yield {"base": base, "token": token}
    process.terminate()
    process.wait(timeout=20)
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture()
def browser():
    os.makedirs(SCREENSHOTS, exist_ok=True)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    # The last two let the wallboard's endurance test collect garbage and read the JS heap exactly.
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800", "--disable-gpu",
                     "--js-flags=--expose-gc", "--enable-precise-memory-info"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    driver.set_window_size(1280, 800)
    yield driver
    driver.quit()


def wait(driver, css, timeout=15):
    return WebDriverWait(driver, timeout).until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))


def live_wait(driver, timeout=10):
    """A wait for pages that follow the event stream: the demo makes a call every two seconds, and each one may
    render a list again between finding an element and reading it."""
    return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,))


def queued_row_text(driver, prefix, part):
    """The text of `part` in the queued call whose row starts with `prefix`, read in one go (see `live_wait`)."""
    def read(d):
        for row in d.find_elements(By.CSS_SELECTOR, "[data-test=queued-call]"):
            if row.text.startswith(prefix):
                return row.find_element(By.CSS_SELECTOR, part).text or False
        return False
    return live_wait(driver).until(read)


def wait_all(driver, css, minimum=1, timeout=15):
    WebDriverWait(driver, timeout).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, css)) >= minimum)
    return driver.find_elements(By.CSS_SELECTOR, css)


def shot(driver, name):
    time.sleep(0.4)  # let charts finish drawing
    path = os.path.join(SCREENSHOTS, f"{PREFIX}{name}.png")
    driver.save_screenshot(path)
    return path


def severe_console_errors(driver):
    # Network entries are the API's own 4xx answers, which the page shows; script errors are bugs.
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE" and entry.get("source") != "network"]


def test_manager_day(server, browser):
    base = server["base"]
    browser.get(f"{base}/#token={server['token']('admin')}")
    cards = wait_all(browser, "[data-test=team-card]", minimum=4)
    assert "token=" not in browser.current_url, "the token leaves the address bar"
    assert browser.find_element(By.ID, "who-tenant").text == "demo"
    assert browser.find_element(By.ID, "who-role").text.lower() == "admin"
    assert not browser.find_element(By.ID, "banner").is_displayed(), "no error banner without an error"
    assert any("Billing Europe" in card.text for card in cards)
    # The demo's history has queued and abandoned calls: each team's week is graded against the target.
    grades = [badge.get_attribute("data-grade") for badge in browser.find_elements(By.CSS_SELECTOR, "[data-test=team-card] [data-test=service-level]")]
    assert len(grades) >= 4 and all(grade in ("good", "warn", "bad") for grade in grades[:4]), grades
    # The demo's Billing Americas is short of people: the panel suggests lending it a billing agent with time to spare.
    suggestion = wait(browser, "[data-test=suggestions] [data-test=suggestion][data-kind=assign_agent]")
    assert "to Billing Americas" in suggestion.text and "Expected:" in suggestion.text, suggestion.text
    shot(browser, "01-teams")
    suggestion.find_element(By.CSS_SELECTOR, "[data-test=apply-suggestion]").click()
    WebDriverWait(browser, 10).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "[data-test=suggestion-status]").text.startswith("Done: Assign"))
    # Billing Americas has had its help for this week: after the reload, no move for it is suggested.
    WebDriverWait(browser, 15).until(lambda d: d.execute_script(
        "const panel = document.querySelector('[data-test=suggestions]');"
        "return !!panel && !panel.innerText.includes('to Billing Americas')"))

    # Create a team; a validation error from the API is shown in the form.
    form = browser.find_element(By.CSS_SELECTOR, "[data-test=create-team]")
    form.find_element(By.CSS_SELECTOR, "[data-test=team-name]").send_keys("Billing Europe")
    form.find_element(By.CSS_SELECTOR, "[data-test=team-sector]").send_keys("billing")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda d: "already exists" in form.find_element(By.CSS_SELECTOR, "[data-test=form-error]").text)
    name = form.find_element(By.CSS_SELECTOR, "[data-test=team-name]")
    name.clear()
    name.send_keys("Night Shift")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    assert wait(browser, "[data-test=team-title]").text == "Night Shift"

    # Add a member.
    member_form = wait(browser, "[data-test=add-member]")
    member_form.find_element(By.CSS_SELECTOR, "[data-test=member-name]").send_keys("Rosa Diaz")
    member_form.find_element(By.CSS_SELECTOR, "[data-test=member-email]").send_keys("rosa@demo.example")
    Select(member_form.find_element(By.CSS_SELECTOR, "[data-test=member-role]")).select_by_value("lead")
    member_form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    rows = wait_all(browser, "[data-test=member-row]")
    assert "Rosa Diaz" in rows[0].text
    # Members from a CSV file: Rosa's row updates her, the other adds a member.
    members_csv = os.path.join(tempfile.mkdtemp(prefix="switchboard-import-"), "members.csv")
    with open(members_csv, "w", encoding="utf-8") as handle:
        handle.write('email,name,role\nrosa@demo.example,"Diaz, Rosa",lead\njake@demo.example,Jake Peralta,member\n')
    importer = wait(browser, "[data-test=import-csv]")
    importer.find_element(By.CSS_SELECTOR, "[data-test=import-file]").send_keys(members_csv)
    importer.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    assert "1 updated" in wait(browser, "[data-test=import-summary]").text
    WebDriverWait(browser, 15).until(lambda d: d.execute_script(
        "const rows = [...document.querySelectorAll('[data-test=member-row]')];"
        "return rows.length === 2 && rows.some(row => row.innerText.includes('Diaz, Rosa'))"))
    shot(browser, "02-team-members")

    # Assign an agent of the team's sector.
    browser.find_element(By.CSS_SELECTOR, "[data-test=tab-agents]").click()
    picker = Select(wait(browser, "[data-test=assign-select]"))
    assert len(picker.options) > 1, "agents of the sector are offered"
    picker.select_by_index(1)
    browser.find_element(By.CSS_SELECTOR, "[data-test=assign-form] button[type=submit]").click()
    assigned = wait_all(browser, "[data-test=assigned-agent]")
    assert assigned[0].find_element(By.CSS_SELECTOR, "[data-test=load]").text.count("/") == 1
    shot(browser, "03-team-agents")

    # A demo team's performance, with charts.
    browser.get(f"{base}/#/teams")
    billing = [card for card in wait_all(browser, "[data-test=team-card]", minimum=4) if "Billing Europe" in card.text][0]
    billing.click()
    wait(browser, "[data-test=tab-performance]").click()
    charts = wait_all(browser, "[data-test=chart]", minimum=3)
    assert all(chart.find_elements(By.TAG_NAME, "canvas") for chart in charts), "Chart.js is served and draws"
    assert wait(browser, "[data-test=service-level-chart] canvas")
    assert "answered within 20 s" in wait(browser, "[data-test=totals]").text
    assert "calls handled" in wait(browser, "[data-test=totals]").text
    # The team's agents' time: the demo's agents have been available since they were created.
    people = wait(browser, "[data-test=people-totals]").text
    assert "occupancy" in people and "offers accepted" in people, people
    shot(browser, "04-team-performance")

    # Try a route and see the breakdown.
    browser.get(f"{base}/#/routing")
    Select(wait(browser, "[data-test=route-team]")).select_by_visible_text("Billing Europe (billing)")
    browser.find_element(By.CSS_SELECTOR, "[data-test=route-capabilities]").send_keys("french")
    browser.find_element(By.CSS_SELECTOR, "[data-test=route-form] button[type=submit]").click()
    candidates = wait_all(browser, "[data-test=candidate-row]")
    chosen = wait(browser, "[data-test=chosen-agent]").text
    assert chosen and chosen in candidates[0].text, "the chosen agent heads the breakdown"
    assert "value" in candidates[0].text
    wait_all(browser, "[data-test=decision-row]")
    shot(browser, "05-routing")

    # Analytics with charts.
    browser.get(f"{base}/#/analytics")
    wait_all(browser, "[data-test=comparison-row]", minimum=4)
    wait_all(browser, "[data-test=top-agent-row]")
    assert len(browser.find_elements(By.CSS_SELECTOR, "[data-test=chart] canvas")) >= 3
    shot(browser, "06-analytics")
    # Exports: fetched with the token and saved as files; the page says what it saved.
    for test in ["export-teams", "export-calls"]:
        browser.find_element(By.CSS_SELECTOR, f"[data-test={test}]").click()
        WebDriverWait(browser, 15).until(
            lambda d: d.find_element(By.CSS_SELECTOR, f"[data-test={test}-status]").text.startswith("Saved "))
        assert ".csv" in browser.find_element(By.CSS_SELECTOR, f"[data-test={test}-status]").text

    browser.get(f"{base}/#/agents")
    agents = wait_all(browser, "[data-test=agent-row]", minimum=15)
    assert agents[0].find_element(By.CSS_SELECTOR, "[data-test=load]")
    assert browser.find_elements(By.CSS_SELECTOR, "[data-test=create-agent]")
    shot(browser, "07-agents")

    # Import agents from a CSV: a file with a bad row is refused with the row's line; the valid rows can go in.
    upload = os.path.join(tempfile.mkdtemp(prefix="switchboard-import-"), "agents.csv")
    with open(upload, "w", encoding="utf-8") as handle:
        handle.write('external_id,name,sector,priority,capabilities\n'
                     'hr-1,"Łukasz Wróbel, Jr.",billing,7,french;polish\n'
                     'hr-2,Zoë,billing,eleven,\n')
    browser.find_element(By.CSS_SELECTOR, "[data-test=show-import]").click()
    importer = wait(browser, "[data-test=import-csv]")
    importer.find_element(By.CSS_SELECTOR, "[data-test=import-file]").send_keys(upload)
    importer.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    bad_rows = wait_all(browser, "[data-test=import-row-error]")
    assert "3" in bad_rows[0].text and "priority" in bad_rows[0].text, bad_rows[0].text
    assert "nothing was written" in browser.find_element(By.CSS_SELECTOR, "[data-test=import-error]").text
    shot(browser, "07b-agents-import-refused")
    importer.find_element(By.CSS_SELECTOR, "[data-test=import-partial]").click()
    importer.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    summary = wait(browser, "[data-test=import-summary]").text
    assert "1 created" in summary, summary
    # The list reloads after an import; read it in the page, where a re-render cannot leave a stale reference.
    WebDriverWait(browser, 15).until(lambda d: d.execute_script(
        "return [...document.querySelectorAll('[data-test=agent-row]')].some(row => row.innerText.includes('Łukasz Wróbel, Jr.'))"))

    # Per-channel limits: the demo's Ada takes one voice call at a time; give Bruno two chats at most.
    assert browser.execute_script(
        "return [...document.querySelectorAll('[data-test=agent-row]')].some(row => row.innerText.includes('Ada')"
        " && row.querySelector('[data-test=channel-slots]').innerText.includes('voice'))")
    edit_agent_field(browser, "Bruno", "agent-channel-capacity", "fax=2", "fax", "webchat=2",
                     "row.querySelector('[data-test=channel-slots]').innerText.includes('webchat')"
                     " && row.querySelector('[data-test=channel-slots]').innerText.includes('/2')")
    shot(browser, "07c-agents-channel-limits")

    # Skill levels: a level after "=" in the capabilities field; the list shows it out of 5.
    edit_agent_field(browser, "Bruno", "agent-capabilities", "french=7", "1 to 5", "French=3, vip",
                     "row.querySelector('[data-test=agent-capabilities]').innerText.includes('french 3/5')"
                     " && row.querySelector('[data-test=agent-capabilities]').innerText.includes('vip')")

    # Where Bruno answers Twilio calls: a SIP address (a bare name is refused in the form).
    edit_agent_field(browser, "Bruno", "agent-contact", "bruno", "SIP address", "sip:bruno@example.sip.twilio.com")
    WebDriverWait(browser, 15).until(lambda d: any(
        agent["name"].startswith("Bruno") and (agent.get("contact") or {}).get("sip") == "sip:bruno@example.sip.twilio.com"
        for agent in harness.get_all(server["base"], server["token"]("admin"), "/api/agents")))

    # A narrow screen keeps everything reachable without sideways scrolling of the page.
    browser.set_window_size(390, 844)
    browser.get(f"{base}/#/teams")
    wait_all(browser, "[data-test=team-card]", minimum=4)
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert browser.find_element(By.CSS_SELECTOR, "[data-test=menu-button]").is_displayed(), "the pages are behind the menu"
    shot(browser, "08-teams-narrow")
    assert not severe_console_errors(browser), severe_console_errors(browser)


def edit_agent_field(browser, name, field, refused, error, accepted, shows="true"):
    """In the agent `name`'s edit form, `refused` in `field` is refused with a message holding `error`; `accepted` then
    saves, and the reloaded list's row of the agent meets `shows` (a JavaScript condition over `row`)."""
    row = [row for row in browser.find_elements(By.CSS_SELECTOR, "[data-test=agent-row]") if row.text.startswith(name)][0]
    row.find_element(By.CSS_SELECTOR, "[data-test=edit-agent]").click()
    for value in (refused, accepted):
        control = wait(browser, f"[data-test=edit-agent-form] [data-test={field}]")
        control.clear()
        control.send_keys(value)
        browser.find_element(By.CSS_SELECTOR, "[data-test=edit-agent-form] button[type=submit]").click()
        if value == refused:
            WebDriverWait(browser, 15).until(lambda d: error in d.find_element(
                By.CSS_SELECTOR, "[data-test=edit-agent-form] [data-test=form-error]").text)
    WebDriverWait(browser, 15).until(lambda d: d.execute_script(
        "return [...document.querySelectorAll('[data-test=agent-row]')].some(row => row.innerText.startsWith(arguments[0])"
        f" && ({shows}))", name))


def api_get(server, path, role="admin"):
    return api(server, "GET", path, role=role)


def api(server, method, path, body=None, role="admin"):
    status, payload = harness.call(server["base"], server["token"](role), method, path, body)
    assert 200 <= status < 300, (method, path, status, payload)
    return payload["data"]


def test_channels_page(server, browser):
    """A Twilio channel's page: where it routes, the addresses for Twilio's console, and its last webhook requests,
    a refused signature among them with its likely cause."""
    channel, _ = harness.twilio_channel(server["base"], server["token"]("admin"), f"Texts {int(time.time() * 1000) % 100000}")
    base = server["base"]
    browser.get(f"{base}/#token={server['token']('viewer')}")
    wait_all(browser, "[data-test=team-card]", minimum=1)
    browser.get(f"{base}/#/channels")
    live_wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, f"[data-channel-id='{channel['id']}'] [data-test=channel-link]")).click()
    assert wait(browser, "[data-test=channel-title]").text == channel["name"]
    assert wait(browser, "[data-test=webhook-messaging]").text == channel["webhook_urls"]["messaging"]
    rows = [row.text for row in wait_all(browser, "[data-test=request-row]", minimum=2)]
    assert any("403" in row and "SWITCHBOARD_PUBLIC_URL" in row for row in rows), rows
    assert any("200" in row and "reply" in row for row in rows), rows
    shot(browser, "13-channel-page")
    assert not severe_console_errors(browser), severe_console_errors(browser)


def test_queue_widens(server, browser):
    # A night team of one; its calls may go to the rest of the sector only after ten minutes. A tenant of its own:
    # the demo tenant's traffic (a call every two seconds, to any sector) would take places in this queue.
    client = f"queue-{int(time.time() * 1000) % 10**9}"
    api = harness.api_as(base_url(server), server["token"]("admin", client=client))
    api("PUT", "/api/settings", {"routing.relaxation": [{"after_seconds": 0, "pool": "team"},
                                                        {"after_seconds": 600, "pool": "sector"}],
                                 "routing.preferred_agent_wait_seconds": 600})
    team = api("POST", "/api/teams", {"name": "Night shift", "sector": "night"})
    member = api("POST", f"/api/teams/{team['id']}/members", {"email": "owl@demo.example", "name": "Owl", "role": "lead"})
    owl = api("POST", "/api/agents", {"name": "Owl", "sector": "night", "max_concurrent": 1})
    api("POST", "/api/agents", {"name": "Lark", "sector": "night", "max_concurrent": 3})
    api("POST", f"/api/teams/{team['id']}/members/{member['id']}/agents", {"agent_ids": [owl["id"]]})
    assert api("POST", "/api/calls", {"team_id": team["id"]})["agent_id"] == owl["id"]
    # A callback waits as any call does, marked in the table.
    waiting = api("POST", "/api/calls", {"team_id": team["id"], "callback": {"phone": "+15551234567"}})
    assert waiting["status"] == "queued", waiting
    urgent = api("POST", "/api/calls", {"team_id": team["id"], "priority": 9})
    assert urgent["status"] == "queued" and urgent["priority"] == 9, urgent
    # A call kept for busy Owl, its preferred agent: only Owl may take it.
    kept = api("POST", "/api/calls", {"sector": "night", "preferred_agent_id": owl["id"]})
    assert kept["status"] == "queued" and kept["preferred_until"], kept
    # A call that needs French at level 4 or more: nobody here speaks it.
    skilled = api("POST", "/api/calls", {"sector": "night", "required_levels": {"french": 4}})
    assert skilled["status"] == "queued" and skilled["required_levels"] == {"french": 4}, skilled
    browser.get(f"{base_url(server)}/#token={server['token']('manager', client=client)}")
    wait_all(browser, "[data-test=team-card]", minimum=1)
    browser.get(f"{base_url(server)}/#/routing")
    wait_all(browser, "[data-test=queued-call]")
    assert "its team (step 1)" in queued_row_text(browser, waiting["id"][:8], "[data-test=queued-pool]")
    # The urgent call goes first, though it came later.
    assert queued_row_text(browser, urgent["id"][:8], "[data-test=queued-place]") == "1"
    assert queued_row_text(browser, urgent["id"][:8], "[data-test=queued-priority]") == "9"
    assert queued_row_text(browser, waiting["id"][:8], "[data-test=queued-place]") == "2"
    assert queued_row_text(browser, waiting["id"][:8], "[data-test=queued-callback]") == "callback"
    assert queued_row_text(browser, kept["id"][:8], "[data-test=queued-preferred]") == "only Owl"
    assert queued_row_text(browser, skilled["id"][:8], "[data-test=queued-needs]") == "french ≥ 4"
    # Owl's one slot and Lark's three free a slot every 45 s (180 s of handling each): the callback, second, 90 s.
    assert api("GET", f"/api/calls/{waiting['id']}")["estimated_wait_seconds"] == 90
    assert queued_row_text(browser, waiting["id"][:8], "[data-test=queued-estimate]") == "90 s"
    assert ":" in queued_row_text(browser, waiting["id"][:8], "[data-test=queued-widens]"), "the time it widens"
    shot(browser, "05b-routing-queue")
    assert not severe_console_errors(browser), severe_console_errors(browser)


def test_routing_page_shows_learned_skills(server, browser):
    """Under the learning strategy, the breakdown's Skills column shows each requested skill the agent has with its
    level and learned estimate; under the formula, none. A tenant of its own: the demo's traffic (a call every two
    seconds) fills and frees its agents, and a breakdown lists only the agents free at that moment."""
    client = f"skills-{int(time.time() * 1000) % 10**9}"
    api = harness.api_as(base_url(server), server["token"]("admin", client=client))
    api("POST", "/api/agents", {"name": "Amélie", "sector": "billing", "capabilities": ["french", "refunds"],
                                "capability_levels": {"french": 4}})
    api("POST", "/api/agents", {"name": "Bastien", "sector": "billing", "capabilities": ["french"]})
    api("POST", "/api/agents", {"name": "Carl", "sector": "billing", "capabilities": ["refunds"]})
    browser.get(f"{base_url(server)}/#token={server['token']('admin', client=client)}")
    wait(browser, "[data-test=create-team]")

    def route_french():
        browser.get(f"{base_url(server)}/#/teams")
        wait(browser, "[data-test=create-team]")
        browser.get(f"{base_url(server)}/#/routing")
        wait(browser, "[data-test=route-team]")
        browser.find_element(By.CSS_SELECTOR, "[data-test=route-sector]").send_keys("billing")
        browser.find_element(By.CSS_SELECTOR, "[data-test=route-capabilities]").send_keys("french")
        browser.find_element(By.CSS_SELECTOR, "[data-test=route-form] button[type=submit]").click()
        rows = wait_all(browser, "[data-test=candidate-row]", minimum=3)
        return {row.find_element(By.CSS_SELECTOR, "td").text.split(" ")[0]: row for row in rows}

    assert not any(row.find_elements(By.CSS_SELECTOR, "[data-test=candidate-skill]") for row in route_french().values())
    api("PUT", "/api/settings", {"routing.strategy": "learning"})
    rows = route_french()
    learning = [row.find_element(By.CSS_SELECTOR, "[data-test=candidate-learning]").text for row in rows.values()]
    assert all("estimate" in text and " optimism" in text for text in learning), learning
    skills = {name: [skill.text for skill in row.find_elements(By.CSS_SELECTOR, "[data-test=candidate-skill]")]
              for name, row in rows.items()}
    assert skills["Carl"] == [], skills
    for name, level in [("Amélie", 4), ("Bastien", 5)]:
        assert len(skills[name]) == 1 and skills[name][0].startswith(f"french {level}/5 × "), skills
        assert skills[name][0].endswith("(0 calls)"), skills
    shot(browser, "05d-routing-learned-skills")
    assert not severe_console_errors(browser), severe_console_errors(browser)


def test_routing_page_is_live(server, browser):
    # A sector of one agent, made before the page opens; then calls arrive while the supervisor watches.
    sector = f"surge{int(time.time() * 1000) % 100000}"
    agent = api(server, "POST", "/api/agents", {"name": "Surge Sam", "sector": sector, "max_concurrent": 1})
    browser.get(f"{base_url(server)}/#token={server['token']('viewer')}")
    wait_all(browser, "[data-test=team-card]", minimum=4)
    browser.get(f"{base_url(server)}/#/routing")
    wait(browser, "[data-test=live][data-state=live]")
    wait(browser, f"[data-test=live-agent][data-agent='{agent['id']}']")
    live_wait(browser).until(lambda d: d.find_element(
        By.CSS_SELECTOR, f"[data-test=live-agent][data-agent='{agent['id']}'] [data-test=live-load]").text.endswith("0/1"))
    browser.execute_script("window.__sameDocument = true;")
    wait(browser, "[data-test=queue-depth]")
    depth_before = int(live_wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, "[data-test=queue-depth]").text or "0"))
    calls = [api(server, "POST", "/api/calls", {"sector": sector}) for _ in range(3)]
    waiting = [call["id"][:8] for call in calls if call["status"] == "queued"]
    assert len(waiting) == 2, calls
    live_wait(browser).until(lambda d: d.find_element(
        By.CSS_SELECTOR, f"[data-test=live-agent][data-agent='{agent['id']}'] [data-test=live-load]").text.endswith("1/1"))
    live_wait(browser).until(lambda d: all(any(r.text.startswith(prefix) for r in d.find_elements(
        By.CSS_SELECTOR, "[data-test=queued-call]")) for prefix in waiting))
    live_wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, "[data-test=queue-depth]").text != str(depth_before))
    assert browser.execute_script("return window.__sameDocument === true;"), "the page was not reloaded"
    shot(browser, "05c-routing-live")
    for call in calls:
        api(server, "POST", f"/api/calls/{call['id']}/cancel", {})
    live_wait(browser).until(lambda d: not any(r.text.startswith(prefix) for prefix in waiting for r in d.find_elements(
        By.CSS_SELECTOR, "[data-test=queued-call]")))
    assert not severe_console_errors(browser), severe_console_errors(browser)


def base_url(server):
    return server["base"]


def test_what_if(server, browser):
    base = server["base"]
    # A manager may simulate but not apply (a settings write).
    browser.get(f"{base}/#token={server['token']('manager')}")
    wait_all(browser, "[data-test=team-card]", minimum=4)
    browser.find_element(By.CSS_SELECTOR, "[data-nav=what-if]").click()
    wait(browser, "[data-test=whatif-run]").click()
    wait_all(browser, "[data-test=whatif-row]", minimum=13)
    assert not browser.find_element(By.CSS_SELECTOR, "[data-test=whatif-apply]").is_enabled()

    browser.get(f"{base}/#token={server['token']('admin')}")
    wait_all(browser, "[data-test=team-card]", minimum=4)
    browser.get(f"{base}/#/what-if")
    weight = wait(browser, "[data-test=whatif-weight-success_rate]")
    weight.clear()
    weight.send_keys("5")
    Select(browser.find_element(By.CSS_SELECTOR, "[data-test=whatif-strategy]")).select_by_value("learning")
    browser.find_element(By.CSS_SELECTOR, "[data-test=whatif-run]").click()
    rows = wait_all(browser, "[data-test=whatif-row]", minimum=13)
    answered = rows[0].find_elements(By.TAG_NAME, "td")
    # The demo's last week of calls, replayed: every one is answered under both policies (by the team, the sector or the queue).
    assert int(answered[1].text) > 0 and int(answered[2].text) > 0, [cell.text for cell in answered]
    by_label = {row.find_elements(By.TAG_NAME, "td")[0].text: row.text for row in rows}
    assert "%" in by_label["Expected success"], by_label  # expected success under each policy
    assert "Offers that ran out" in by_label, by_label  # offers are off in the demo: none
    assert len(browser.find_elements(By.CSS_SELECTOR, "[data-test=whatif-results] [data-test=chart]")) == 2
    shot(browser, "11-what-if")
    apply = browser.find_element(By.CSS_SELECTOR, "[data-test=whatif-apply]")
    assert apply.is_enabled()
    apply.click()
    WebDriverWait(browser, 15).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "[data-test=whatif-apply-status]").text.startswith("Applied"))
    settings = api_get(server, "/api/settings")
    assert settings["routing.strategy"] == "learning" and settings["routing.weights"]["success_rate"] == 5, settings
    audit = api_get(server, "/api/settings/audit")
    assert {entry["key"] for entry in audit} >= {"routing.strategy", "routing.weights"}
    assert not severe_console_errors(browser), severe_console_errors(browser)


def test_viewer_sees_no_write_controls(server, browser):
    base = server["base"]
    browser.get(f"{base}/#token={server['token']('viewer')}")
    wait_all(browser, "[data-test=team-card]", minimum=4)
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-test=create-team]")
    browser.find_elements(By.CSS_SELECTOR, "[data-test=team-card]")[0].click()
    wait_all(browser, "[data-test=member-row]")
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-test=add-member]")
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-test=remove-member]")
    assert all(not s.is_enabled() for s in browser.find_elements(By.CSS_SELECTOR, "[data-test=member-row] select"))
    browser.find_element(By.CSS_SELECTOR, "[data-test=tab-agents]").click()
    wait_all(browser, "[data-test=member-agents]")
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-test=assign-form]")
    browser.get(f"{base}/#/agents")
    wait_all(browser, "[data-test=agent-row]")
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-test=edit-agent]")
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-test=create-agent]")
    assert browser.find_elements(By.CSS_SELECTOR, "[data-test=agent-state]")
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-test=presence-select]")
    browser.get(f"{base}/#/routing")
    wait_all(browser, "[data-test=decision-row]")
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-test=route-form]")
    shot(browser, "09-viewer-routing")


def test_bad_token_shows_sign_in(server, browser):
    base = server["base"]
    token = server["token"]("admin")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    browser.get(f"{base}/#token={forged}")
    wait(browser, "#signin")
    banner = wait(browser, "#banner")
    assert "Signed out" in banner.text
    shot(browser, "10-signed-out")
    # Signing in with a good token from the form works.
    browser.find_element(By.ID, "signin-token").send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()
    wait_all(browser, "[data-test=team-card]", minimum=4)
    browser.find_element(By.ID, "sign-out").click()
    wait(browser, "#signin")
    assert browser.execute_script("return sessionStorage.getItem('switchboard.token')") is None


def test_presence_on_the_agents_page(server, browser):
    """A manager sends an agent to lunch from the agents page and brings it back; the API agrees each time."""
    base = server["base"]
    browser.get(f"{base}/#token={server['token']('manager')}")
    wait_all(browser, "[data-test=team-card]", minimum=1)
    browser.get(f"{base}/#/agents")
    agent_id = live_wait(browser).until(lambda d: wait_all(d, "[data-test=agent-row]")[0].get_attribute("data-agent-id"))
    live_wait(browser).until(lambda d: Select(d.find_element(
        By.CSS_SELECTOR, f"[data-agent-id='{agent_id}'] [data-test=presence-select]")).select_by_value("away:lunch") or True)
    live_wait(browser).until(lambda d: d.find_element(
        By.CSS_SELECTOR, f"[data-agent-id='{agent_id}'] [data-test=agent-state]").text == "away: lunch")
    agent = api_get(server, f"/api/agents/{agent_id}")
    assert agent["presence"] == "away" and agent["presence_reason"] == "lunch" and agent["state"] == "away", agent
    shot(browser, "10-agents-presence")
    live_wait(browser).until(lambda d: Select(d.find_element(
        By.CSS_SELECTOR, f"[data-agent-id='{agent_id}'] [data-test=presence-select]")).select_by_value("available") or True)
    live_wait(browser).until(lambda d: d.find_element(
        By.CSS_SELECTOR, f"[data-agent-id='{agent_id}'] [data-test=agent-state]").text in ("available", "on call"))
    assert api_get(server, f"/api/agents/{agent_id}")["presence"] == "available"
    assert not severe_console_errors(browser), severe_console_errors(browser)


def test_wrap_up_on_the_agents_page(server, browser):
    """An agent with ten minutes of after-call work finishes a call: the agents page shows it wrapping up, its slot
    taken; a manager presses Ready and the slot is free again."""
    sector = f"wrapup{int(time.time() * 1000) % 100000}"
    agent = api(server, "POST", "/api/agents", {"name": "Wendy Wrap", "sector": sector, "max_concurrent": 1,
                                                  "wrap_up_seconds": 600})
    call = api(server, "POST", "/api/calls", {"sector": sector})
    assert call["agent_id"] == agent["id"], call
    done = api(server, "POST", f"/api/calls/{call['id']}/complete", {"outcome": "successful", "resolved": True,
                                                                     "handling_time_seconds": 95})
    assert done["wrap_up_until"] is not None, done
    base = server["base"]
    browser.get(f"{base}/#token={server['token']('manager')}")
    wait_all(browser, "[data-test=team-card]", minimum=1)
    browser.get(f"{base}/#/agents?sector={sector}")
    row = f"[data-agent-id='{agent['id']}']"
    live_wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, f"{row} [data-test=agent-state]").text == "wrap up")
    assert api_get(server, f"/api/agents/{agent['id']}")["current_load"] == 1
    shot(browser, "10b-agents-wrap-up")
    browser.find_element(By.CSS_SELECTOR, f"{row} [data-test=end-wrap-up]").click()
    live_wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, f"{row} [data-test=agent-state]").text == "available")
    after = api_get(server, f"/api/agents/{agent['id']}")
    assert after["state"] == "available" and after["current_load"] == 0 and after["wrap_up_until"] is None, after
    assert not browser.find_elements(By.CSS_SELECTOR, f"{row} [data-test=end-wrap-up]")
    assert not severe_console_errors(browser), severe_console_errors(browser)


def test_agent_page(server, browser):
    """From the agents list to one agent's page: its state, its calls' figures with handling time made of talk and
    wrap-up, and where its time went (people metrics), as the API answers them."""
    sector = f"page{int(time.time() * 1000) % 100000}"
    agent = api(server, "POST", "/api/agents", {"name": "Paula Page", "sector": sector, "max_concurrent": 1,
                                                  "wrap_up_seconds": 600})
    call = api(server, "POST", "/api/calls", {"sector": sector})
    api(server, "POST", f"/api/calls/{call['id']}/complete", {"outcome": "successful", "resolved": True,
                                                            "satisfaction": 5, "handling_time_seconds": 95})
    api(server, "POST", f"/api/agents/{agent['id']}/wrap-up/end")
    api(server, "POST", "/api/system/aggregator/run")
    metrics = api_get(server, f"/api/agents/{agent['id']}/metrics")
    assert metrics["totals"]["calls_handled"] == 1, metrics["totals"]
    base = server["base"]
    browser.get(f"{base}/#token={server['token']('viewer')}")
    wait_all(browser, "[data-test=team-card]", minimum=1)
    browser.get(f"{base}/#/agents?sector={sector}")
    live_wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, f"[data-agent-id='{agent['id']}'] [data-test=agent-link]")).click()
    assert wait(browser, "[data-test=agent-title]").text == "Paula Page"
    assert browser.current_url.endswith(f"#/agents/{agent['id']}")
    totals = wait(browser, "[data-test=totals]").text
    assert "1\ncalls handled" in totals and "100.0%\nsuccess rate" in totals, totals
    assert f"{round(metrics['totals']['avg_handling_time'])} s\navg handling" in totals, totals
    people = wait(browser, "[data-test=people-totals]").text
    assert "on calls" in people and "wrap-up" in people, people
    wait_all(browser, "[data-test=chart]", minimum=2)
    shot(browser, "07d-agent-page")
    assert not severe_console_errors(browser), severe_console_errors(browser)


def test_desk_and_floor(server, browser):
    """A tenant with offers of 60 s and 20 s of wrap-up: a call is offered on the agent's desk (with a countdown), the
    agent accepts it, completes it, wraps up (the countdown runs) and is ready; a manager's floor, open in a second
    window, follows each step without a reload."""
    base = server["base"]
    client = f"desk-{int(time.time() * 1000) % 10**9}"
    admin = server["token"]("admin", client=client)

    def api_as(method, path, body=None, token=admin):
        status, payload = harness.call(base, token, method, path, body)
        assert 200 <= status < 300, (method, path, status, payload)
        return payload["data"]

    api_as("PUT", "/api/settings", {"routing.offer_timeout_seconds": 60, "calls.wrap_up_seconds": 20})
    agent = api_as("POST", "/api/agents", {"name": "Dana Desk", "sector": "support", "max_concurrent": 1})
    api_as("POST", "/api/agents", {"name": "Omar Other", "sector": "support", "max_concurrent": 1, "status": "inactive"})

    # The manager's floor in one window, the agent's desk in another.
    browser.get(f"{base}/#token={server['token']('manager', client=client)}")
    browser.get(f"{base}/#/floor")
    floor_window = browser.current_window_handle
    row = f"[data-test=floor-row][data-agent-id='{agent['id']}']"

    def floor_state():
        browser.switch_to.window(floor_window)
        return live_wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, row)).get_attribute("data-state")

    assert floor_state() == "available"
    assert browser.find_element(By.CSS_SELECTOR, "[data-test=floor-count-available]").text == "available: 1"
    browser.switch_to.new_window("window")
    desk_window = browser.current_window_handle
    browser.get(f"{base}/#token={server['token']('agent', client=client, agent_id=agent['id'])}")
    wait(browser, "[data-test=desk]")
    assert browser.find_element(By.CSS_SELECTOR, "[data-test=desk-state]").text == "available"
    # Only the desk is in the navigation.
    visible = [link.text for link in browser.find_elements(By.CSS_SELECTOR, "#nav a") if link.is_displayed()]
    assert visible == ["My desk"], visible

    # A callback: the desk says so, with the number to ring, on the offer and on the call.
    call = api_as("POST", "/api/calls", {"sector": "support", "channel": "voice", "callback": {"phone": "+442071838750"}})
    assert call["status"] == "offered" and call["agent_id"] == agent["id"], call
    offer = live_wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, f"[data-test=desk-offer][data-call-id='{call['id']}']"))
    ring = offer.find_element(By.CSS_SELECTOR, "[data-test=desk-callback] a")
    assert ring.text == "+442071838750" and ring.get_attribute("href") == "tel:+442071838750", ring.get_attribute("outerHTML")
    countdown = int(offer.find_element(By.CSS_SELECTOR, "[data-test=offer-countdown]").text.split()[0])
    assert 40 <= countdown <= 61, countdown  # the offer ends on a whole second
    shot(browser, "15-desk-offer")
    assert floor_state() == "offered"

    browser.switch_to.window(desk_window)
    offer.find_element(By.CSS_SELECTOR, "[data-test=desk-accept]").click()
    form = live_wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, f"[data-test=desk-call][data-call-id='{call['id']}']"))
    assert "+442071838750" in form.find_element(By.CSS_SELECTOR, "[data-test=desk-callback]").text
    assert api_as("GET", f"/api/calls/{call['id']}")["status"] == "active"
    assert floor_state() == "on_call"

    browser.switch_to.window(desk_window)
    Select(form.find_element(By.CSS_SELECTOR, "[data-test=desk-satisfaction]")).select_by_value("4")
    form.find_element(By.CSS_SELECTOR, "[data-test=desk-complete]").click()
    countdown = live_wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, "[data-test=wrap-up-countdown]"))
    first = int(countdown.text.split()[0])
    time.sleep(2.2)
    assert int(browser.find_element(By.CSS_SELECTOR, "[data-test=wrap-up-countdown]").text.split()[0]) < first, "the wrap-up counts down"
    shot(browser, "16-desk-wrap-up")
    done = api_as("GET", f"/api/calls/{call['id']}")
    assert done["status"] == "completed" and done["satisfaction"] == 4 and done["wrap_up_until"], done
    assert floor_state() == "wrap_up"
    shot(browser, "17-floor")

    browser.switch_to.window(desk_window)
    browser.find_element(By.CSS_SELECTOR, "[data-test=desk-ready]").click()
    live_wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, "[data-test=desk-state]").text == "available")
    assert floor_state() == "available"
    assert api_as("GET", f"/api/agents/{agent['id']}")["current_load"] == 0
    assert not severe_console_errors(browser), severe_console_errors(browser)


def test_keyboard_walk(server, browser):
    """Tab alone reaches the navigation, a team and its controls, each with a visible focus ring; Enter opens the team."""
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.common.action_chains import ActionChains
    base = server["base"]
    browser.get(f"{base}/#token={server['token']('admin')}")
    wait_all(browser, "[data-test=team-card]", minimum=1)
    browser.execute_script("document.activeElement && document.activeElement.blur(); window.focus();")
    reached, invisible = [], []
    for _ in range(40):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        focused = browser.execute_script("""
            const e = document.activeElement; if (!e || e === document.body) return null;
            const s = getComputedStyle(e);
            return {tag: e.tagName, text: (e.innerText || e.getAttribute('aria-label') || '').trim().slice(0, 40),
                    test: e.dataset.test || '', visible: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2};""")
        if not focused:
            continue
        reached.append(focused)
        if not focused["visible"]:
            invisible.append(focused)
        if focused["test"] == "team-card":
            break
    texts = [item["text"] for item in reached]
    assert any(text == "Agents" for text in texts) and any(text == "Routing" for text in texts), texts
    assert reached[-1]["test"] == "team-card", texts
    assert not invisible, f"focus without a visible ring: {invisible}"
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    wait_all(browser, "[data-test=member-row]")
    assert "/members" in browser.current_url


def test_phone_sized(server, browser):
    """At 390×844 every page fits the screen's width (tables scroll inside their box) and the pages are behind a menu."""
    base = server["base"]
    browser.set_window_size(390, 844)
    browser.get(f"{base}/#token={server['token']('admin')}")
    wait_all(browser, "[data-test=team-card]", minimum=1)
    team = browser.find_element(By.CSS_SELECTOR, "[data-test=team-card]").get_attribute("data-team-id")
    nav = browser.find_element(By.ID, "nav")
    assert not nav.is_displayed(), "the page links wait behind the menu on a phone"
    menu = browser.find_element(By.CSS_SELECTOR, "[data-test=menu-button]")
    menu.click()
    assert nav.is_displayed() and menu.get_attribute("aria-expanded") == "true"
    nav.find_element(By.CSS_SELECTOR, "[data-nav=agents]").click()
    wait_all(browser, "[data-test=agent-row]")
    assert not nav.is_displayed() and menu.get_attribute("aria-expanded") == "false"
    shot(browser, "12-phone-agents")
    agent = browser.find_element(By.CSS_SELECTOR, "[data-test=agent-row]").get_attribute("data-agent-id")
    pages = ["#/teams", "#/agents", "#/routing", "#/analytics", "#/what-if", "#/floor", "#/wallboard", f"#/agents/{agent}"] + [
        f"#/teams/{team}/{tab}" for tab in ("members", "agents", "performance", "settings")]
    overflowing = {}
    for page in pages:
        browser.get(f"{base}/{page}")
        WebDriverWait(browser, 15).until(lambda d: not d.find_elements(By.CSS_SELECTOR, ".loading"))
        width = browser.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if width > 0:
            # Which elements reach past the screen's edge, to say what to fix.
            overflowing[page] = (width, browser.execute_script(
                "return [...document.querySelectorAll('#page *')].filter(e => e.getBoundingClientRect().right > "
                "document.documentElement.clientWidth + 1).slice(-3).map(e => e.tagName + '.' + e.className + ' '"
                " + (e.textContent || '').trim().slice(0, 40))"))
        if page == "#/routing":
            shot(browser, "13-phone-routing")
    # An agent's desk on a phone, with an offer, a call in progress and a wrap-up on it at once.
    client = f"phone-desk-{int(time.time() * 1000) % 10**9}"
    api = harness.api_as(base, server["token"]("admin", client=client))
    agent = harness.desk_agent(api, "Pat Phone")
    harness.fill_desk(api)
    browser.get(f"{base}/#token={server['token']('agent', client=client, agent_id=agent['id'])}")
    live_wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-test=desk-offer]")
                             and d.find_elements(By.CSS_SELECTOR, "[data-test=desk-call]")
                             and d.find_elements(By.CSS_SELECTOR, "[data-test=desk-ready]"))
    width = browser.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    if width > 0:
        overflowing["#/desk"] = width
    shot(browser, "18-phone-desk")
    assert not overflowing, f"pages wider than the phone: {overflowing}"
    browser.set_window_size(1280, 800)


def wall_number(driver, test):
    return live_wait(driver).until(lambda d: d.find_element(By.CSS_SELECTOR, f"[data-test={test}]").text)


def test_wallboard_follows_the_floor(server, browser):
    """A sector's board counts waiting calls, calls in progress and its agents as they change, without a reload."""
    base = server["base"]
    sector = f"wall{int(time.time() * 1000) % 100000}"
    browser.get(f"{base}/#token={server['token']('viewer')}")
    wait_all(browser, "[data-test=team-card]", minimum=1)
    browser.get(f"{base}/#/wallboard?sector={sector}")
    wait(browser, "[data-test=wallboard]")
    assert not browser.find_element(By.CSS_SELECTOR, ".topbar").is_displayed(), "a wall screen shows the board only"
    live_wait(browser).until(lambda d: wall_number(d, "wall-waiting") == "0")
    for _ in range(2):
        api(server, "POST", "/api/calls", {"sector": sector})
    live_wait(browser, 15).until(lambda d: wall_number(d, "wall-waiting") == "2")
    assert wall_number(browser, "wall-longest") != "—"
    api(server, "POST", "/api/agents", {"name": "Wall Agent", "sector": sector, "max_concurrent": 1})
    live_wait(browser, 15).until(lambda d: wall_number(d, "wall-waiting") == "1" and wall_number(d, "wall-in-progress") == "1")
    live_wait(browser, 15).until(lambda d: wall_number(d, "wall-on-call") == "1" and wall_number(d, "wall-available") == "0")
    assert "Live" in browser.find_element(By.CSS_SELECTOR, "[data-test=wall-status]").text
    shot(browser, "14-wallboard")
    assert not severe_console_errors(browser), severe_console_errors(browser)


def test_wallboard_says_when_its_token_expired(server, browser):
    base = server["base"]
    browser.get(f"{base}/#token={server['token']('viewer', ttl=6)}")
    browser.get(f"{base}/#/wallboard")
    wait(browser, "[data-test=wallboard]")
    WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-test=wall-expired]:not([hidden])")
                                     or "expired" in d.find_element(By.ID, "signin-message").text + d.find_element(By.ID, "banner").text)


def test_wallboard_does_not_grow(server, browser):
    """Two minutes on the demo's stream of calls: the page's JS heap and its DOM stay the size they were."""
    if os.environ.get("SWITCHBOARD_BROWSER_DATABASE_URL"):
        pytest.skip("two minutes once is enough: the endurance runs in the SQLite pass, the page is the same")
    base = server["base"]
    browser.get(f"{base}/#token={server['token']('viewer')}")
    wait_all(browser, "[data-test=team-card]", minimum=1)
    browser.get(f"{base}/#/wallboard")
    wait(browser, "[data-test=wallboard]")
    measure = "window.gc(); return [performance.memory.usedJSHeapSize, document.getElementsByTagName('*').length];"
    time.sleep(15)
    heap_before, nodes_before = browser.execute_script(measure)
    time.sleep(105)
    heap_after, nodes_after = browser.execute_script(measure)
    assert heap_after - heap_before < 2 * 1024 * 1024, (heap_before, heap_after)
    assert nodes_after <= nodes_before + 5, (nodes_before, nodes_after)
    assert "Live" in browser.find_element(By.CSS_SELECTOR, "[data-test=wall-status]").text
