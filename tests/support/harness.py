"""The one harness of the Python test scripts (reliability, security, webhooks, deployment, browser): start and
stop servers, mint tokens, call the API, check loads, and report the outcome one way (`report`)."""
import atexit
import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SECRET = "reliability-secret-reliability-secret-0000"
KEY = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="


def binary():
    """The debug build that `swift build`/`swift test` keeps current; SWITCHBOARD_BINARY picks another."""
    return os.environ.get("SWITCHBOARD_BINARY") or os.path.join(ROOT, ".build", "debug", "switchboard")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(sqlite_path=None, database_url=None, extra=None):
    env = dict(os.environ, SWITCHBOARD_JWT_SECRET=SECRET, SWITCHBOARD_ENCRYPTION_KEY=KEY, SWITCHBOARD_RATE_LIMIT="off",
               LOG_LEVEL="warning")
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    if sqlite_path:
        env["SWITCHBOARD_SQLITE_PATH"] = sqlite_path
    env.update(extra or {})
    return env


_started = []


@atexit.register
def _kill_servers_left_running():
    """A script that fails half-way leaves no server behind to hold its database (and its port) for the next run."""
    for process in _started:
        if process.poll() is None:
            process.kill()


def start(env, port, log_path, command="serve"):
    """Starts `switchboard <command>` (serve, or demo) and waits until it answers /health."""
    log = open(log_path, "a")
    process = subprocess.Popen([binary(), command, "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    _started.append(process)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(base + "/health", timeout=1)
            return process, base
        except Exception:
            if process.poll() is not None:
                raise RuntimeError(open(log_path).read())
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the server did not start:\n" + open(log_path).read())


def token(env, client_id, role="admin", ttl=3600, agent_id=None):
    arguments = [binary(), "token", "--client-id", client_id, "--role", role, "--ttl", str(ttl)]
    if agent_id:
        arguments += ["--agent-id", agent_id]
    return subprocess.check_output(arguments, cwd=ROOT, env=env, text=True).strip().splitlines()[-1]


def mint(client_id, subject, role="viewer", ttl=3600):
    """An HS256 token signed with the servers' secret, as any issuer would make it (no process to start)."""
    def part(value):
        return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).rstrip(b"=").decode()
    signing_input = part({"alg": "HS256", "typ": "JWT"}) + "." + part(
        {"sub": subject, "client_id": client_id, "role": role, "exp": int(time.time()) + ttl})
    signature = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


def call(base, token_value, method, path, body=None, timeout=10):
    """Returns (status, json); raises OSError when no answer came back."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {token_value}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def get_all(base, token_value, path):
    items, offset = [], 0
    separator = "&" if "?" in path else "?"
    while True:
        status, page = call(base, token_value, "GET", f"{path}{separator}limit=500&offset={offset}")
        assert status == 200, (status, page)
        items += page["data"]
        offset += len(page["data"])
        if not page["data"] or offset >= page["meta"]["total"]:
            return items


def seed_agents(base, token_value, count=20, capacity=5, channel_capacity=None):
    """`count` billing agents of `capacity` each, for the scripts' load; with `channel_capacity`, every other
    agent also has those per-channel limits."""
    for index in range(count):
        agent = {"name": f"Agent {index}", "sector": "billing", "max_concurrent": capacity}
        if channel_capacity and index % 2 == 0:
            agent["channel_capacity"] = channel_capacity
        status, _ = call(base, token_value, "POST", "/api/agents", agent)
        assert status == 201, status


def check_loads(base, token_value, people=False):
    """Every agent's current_load, and its load on each channel, equals its active calls (of that channel) and never
    exceeds its capacity (the channel's limit). With `people`, the calls holding a slot also count offered calls
    and completed ones whose wrap-up is open."""
    agents = get_all(base, token_value, "/api/agents")
    active = get_all(base, token_value, "/api/calls?status=active")
    if people:
        active += get_all(base, token_value, "/api/calls?status=offered")
        active += [item for item in get_all(base, token_value, "/api/calls?status=completed")
                   if item.get("wrap_up_until") and not item.get("wrap_up_ended_at")]
    counts, by_channel = {}, {}
    for item in active:
        counts[item["agent_id"]] = counts.get(item["agent_id"], 0) + 1
        key = (item["agent_id"], item["channel"])
        by_channel[key] = by_channel.get(key, 0) + 1
    problems = []
    for agent in agents:
        if agent["current_load"] != counts.get(agent["id"], 0):
            problems.append(f"agent {agent['name']}: current_load {agent['current_load']} but {counts.get(agent['id'], 0)} active calls")
        if agent["current_load"] > agent["max_concurrent"]:
            problems.append(f"agent {agent['name']}: load {agent['current_load']} over capacity {agent['max_concurrent']}")
        for channel, load in agent.get("channel_loads", {}).items():
            if load != by_channel.get((agent["id"], channel), 0):
                problems.append(f"agent {agent['name']}: {channel} load {load} but {by_channel.get((agent['id'], channel), 0)} active {channel} calls")
            limit = (agent.get("channel_capacity") or {}).get(channel)
            if limit is not None and load > limit:
                problems.append(f"agent {agent['name']}: {load} {channel} calls over its limit of {limit}")
    return agents, active, problems


TEST_PUBLIC_URL = "https://switchboard.example.test"


def twilio_channel(base, token_value, name, public_url=TEST_PUBLIC_URL):
    """A Twilio SMS channel of sector support, with one unsigned (refused) and one signed text in its request log,
    signed by Twilio's own library. Returns (channel, auth token)."""
    import urllib.parse
    from twilio.request_validator import RequestValidator
    auth_token = os.urandom(16).hex()
    status, created = call(base, token_value, "POST", "/api/channels", {
        "type": "sms", "name": name, "sector": "support", "config": {"provider": "twilio", "sender": "+15005550003"},
        "credentials": {"account_sid": "AC" + os.urandom(16).hex(), "auth_token": auth_token}})
    assert status == 201, created
    channel = created["data"]
    url = channel["webhook_urls"]["messaging"]
    params = {"MessageSid": "SM" + os.urandom(16).hex(), "From": "+447700900321", "Body": "Hello"}
    for signature in ["", RequestValidator(auth_token).compute_signature(url, params)]:
        request = urllib.request.Request(base + url[len(public_url):], data=urllib.parse.urlencode(params).encode(),
                                         method="POST", headers={"Content-Type": "application/x-www-form-urlencoded",
                                                                 "X-Twilio-Signature": signature})
        try:
            urllib.request.urlopen(request, timeout=10).read()
        except urllib.error.HTTPError as error:
            assert error.code == 403, error.code
    return channel, auth_token


def report(name, failures, success):
    """Every script ends here: `name: ok — success` and exit 0, or `name: FAILED` with one indented line per
    failure (the first 30) and exit 1."""
    if failures:
        print(f"{name}: FAILED ({len(failures)})")
        for failure in failures[:30]:
            print("  - " + str(failure))
        sys.exit(1)
    print(f"{name}: ok — {success}")


def api_as(base, token_value):
    """A caller of the API with one token: asserts a 2xx answer and returns its `data`."""
    def api(method, path, body=None):
        status, payload = call(base, token_value, method, path, body)
        assert 200 <= status < 300, (method, path, status, payload)
        return payload["data"]
    return api


def desk_agent(api, name, sector="support"):
    """A tenant whose calls are offered for 300 s with 600 s of after-call work, and one agent of three slots."""
    api("PUT", "/api/settings", {"routing.offer_timeout_seconds": 300, "calls.wrap_up_seconds": 600})
    return api("POST", "/api/agents", {"name": name, "sector": sector, "max_concurrent": 3})


def fill_desk(api, sector="support"):
    """Everything on a `desk_agent`'s desk at once: after-call work (a chat, completed), a call in progress (an
    email, accepted) and an offer (a voice call)."""
    first = api("POST", "/api/calls", {"sector": sector, "channel": "webchat"})
    api("POST", f"/api/calls/{first['id']}/accept")
    api("POST", f"/api/calls/{first['id']}/complete", {"outcome": "successful", "resolved": True, "handling_time_seconds": 60})
    second = api("POST", "/api/calls", {"sector": sector, "channel": "email"})
    api("POST", f"/api/calls/{second['id']}/accept")
    api("POST", "/api/calls", {"sector": sector, "channel": "voice"})
