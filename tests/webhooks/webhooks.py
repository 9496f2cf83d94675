"""Webhooks end to end, against the real server and a receiver on loopback that verifies every request with the
Standard Webhooks reference library (PyPI `standardwebhooks`), as a customer's system would:

- every signature verifies, `Switchboard-Event` names the payload's type, tenants never receive each other's events;
- a receiver answering 500 then 200 gets the event twice under one `webhook-id`; the delivery log says so;
- `test` sends a ping; `rotate-secret` signs with both secrets while they overlap; `redeliver` sends the same id again;
- a subscription whose deliveries keep failing is disabled;
- kill -9 right after calls are acknowledged: every one of them is delivered after a restart;
- over PostgreSQL, a WebSocket subscriber of one process sees, in order, the events of calls made through another.

Usage: python3 tests/webhooks/webhooks.py [--database-url postgres://…]
"""
import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import harness  # noqa: E402
from standardwebhooks import Webhook  # noqa: E402
import websocket  # noqa: E402


class Receiver:
    """Collects deliveries by path; `/flaky/…` answers 500 to the first sight of each webhook-id, `/fail/…` always."""

    def __init__(self):
        self.lock = threading.Lock()
        self.secrets = {}  # path → [secrets to verify with]
        self.received = []  # (path, headers, body, verified)
        self.seen_ids = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    secrets = list(receiver.secrets.get(self.path, []))
                verified = bool(secrets)
                for secret in secrets:
                    try:
                        Webhook(secret).verify(body, headers)
                    except Exception:
                        verified = False
                with receiver.lock:
                    receiver.received.append((self.path, headers, body, verified))
                    first = headers.get("webhook-id") not in receiver.seen_ids
                    receiver.seen_ids.add(headers.get("webhook-id"))
                status = 500 if self.path.startswith("/fail/") or (self.path.startswith("/flaky/") and first) else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            # The deliverer sends up to 32 deliveries at once (a restart's backlog, say); socketserver's default
            # listen backlog of 5 would refuse some of them on a slow machine, and failed attempts disable a
            # subscription under this test's short retry schedule.
            request_queue_size = 128

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path):
        with self.lock:
            return [r for r in self.received if r[0] == path]

    def wait(self, what, condition, seconds=30):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if condition():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")


def events_of(received):
    return [json.loads(body) for (_, _, body, _) in received]


def check_stream_across_processes(env, base, token, folder):
    """A subscriber of this process, calls through a second process over the same PostgreSQL."""
    other_port = harness.free_port()
    other, other_base = harness.start(env, other_port, os.path.join(folder, "second.log"))
    try:
        ws = websocket.create_connection(base.replace("http", "ws") + "/api/events/stream", timeout=10)
        ws.send(json.dumps({"token": token, "subscribe": ["call.created"]}))
        ready = json.loads(ws.recv())
        assert ready["type"] == "ready", ready
        started = time.time()
        made = [harness.call(other_base, token, "POST", "/api/calls", {"sector": "billing"})[1]["data"]["id"] for _ in range(5)]
        seen = []
        while len(seen) < 5:
            event = json.loads(ws.recv())
            assert event["type"] == "call.created", event
            seen.append(event)
        elapsed = time.time() - started
        assert [e["data"]["id"] for e in seen] == made, "every call of the other process, in order"
        sequences = [e["sequence"] for e in seen]
        assert sequences == sorted(sequences) and len(set(sequences)) == 5, sequences
        ws.close()
        print(f"stream across processes: 5 events from the second process in {elapsed:.2f} s")
    finally:
        other.kill()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    args = parser.parse_args()
    receiver = Receiver()
    folder = tempfile.mkdtemp(prefix="switchboard-webhooks-")
    sqlite_path = None if args.database_url else os.path.join(folder, "db.sqlite")
    env = harness.server_env(sqlite_path=sqlite_path, database_url=args.database_url, extra={
        "SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE": "true", "SWITCHBOARD_WEBHOOK_RETRY_SECONDS": "1,1",
        "SWITCHBOARD_WEBHOOK_DISABLE_AFTER": "2"})
    port = harness.free_port()
    log = os.path.join(folder, "server.log")
    process, base = harness.start(env, port, log)
    label = "postgresql" if args.database_url else "sqlite"
    try:
        suffix = str(int(time.time() * 1000))
        a, b = f"hooks-a-{suffix}", f"hooks-b-{suffix}"
        token_a, token_b = harness.token(env, a), harness.token(env, b)
        for token in (token_a, token_b):
            status, _ = harness.call(base, token, "POST", "/api/agents", {"name": "Ada", "sector": "billing", "max_concurrent": 3})
            assert status == 201, status

        def subscribe(token, path, events):
            status, body = harness.call(base, token, "POST", "/api/webhooks",
                                       {"url": receiver.url(path), "events": events, "description": path})
            assert status == 201, (status, body)
            secret = body["data"]["secret"]
            assert secret.startswith("whsec_"), secret
            with receiver.lock:
                receiver.secrets[path] = [secret]
            status, again = harness.call(base, token, "GET", f"/api/webhooks/{body['data']['id']}")
            assert status == 200 and "secret" not in again["data"], again
            return body["data"]["id"], secret

        hook_a, secret_a = subscribe(token_a, "/ok/a", ["*"])
        hook_b, _ = subscribe(token_b, "/ok/b", ["call.*"])
        hook_flaky, _ = subscribe(token_a, "/flaky/a", ["call.created"])

        calls_a = [harness.call(base, token_a, "POST", "/api/calls", {"sector": "billing"})[1]["data"]["id"] for _ in range(5)]
        calls_b = [harness.call(base, token_b, "POST", "/api/calls", {"sector": "billing"})[1]["data"]["id"] for _ in range(3)]

        def created_ids(path):
            return {e["data"]["id"] for e in events_of(receiver.at(path)) if e["type"] == "call.created"}

        receiver.wait("tenant A's calls", lambda: set(calls_a) <= created_ids("/ok/a"))
        receiver.wait("tenant B's calls", lambda: set(calls_b) <= created_ids("/ok/b"))
        receiver.wait("the flaky receiver's retries", lambda: len(receiver.at("/flaky/a")) >= 10)

        for path, tenant in (("/ok/a", a), ("/ok/b", b), ("/flaky/a", a)):
            got = receiver.at(path)
            assert all(verified for (_, _, _, verified) in got), f"{path}: a signature did not verify"
            for (_, headers, body, _) in got:
                event = json.loads(body)
                assert event["client_id"] == tenant, f"{path} received another tenant's event: {event}"
                assert headers["switchboard-event"] == event["type"], headers
                assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
        assert all(e["type"].startswith("call.") for e in events_of(receiver.at("/ok/b"))), "B subscribed to call.* only"
        types_a = {e["type"] for e in events_of(receiver.at("/ok/a"))}
        assert {"call.created", "call.assigned", "call.queued", "agent.load_changed", "queue.depth_changed"} <= types_a, types_a
        sequences = [e["sequence"] for e in events_of(receiver.at("/ok/a"))]
        assert len(sequences) == len(set(sequences)), "each event once to a receiver that answered 200"

        # 500 then 200: each event twice, under the same webhook-id.
        by_id = {}
        for (_, headers, body, _) in receiver.at("/flaky/a"):
            by_id.setdefault(headers["webhook-id"], []).append(body)
        assert len(by_id) == 5 and all(len(bodies) == 2 and bodies[0] == bodies[1] for bodies in by_id.values()), \
            {k: len(v) for k, v in by_id.items()}
        receiver.wait("the flaky deliveries' record", lambda: all(
            d["status"] == "delivered" for d in harness.call(base, token_a, "GET", f"/api/webhooks/{hook_flaky}/deliveries")[1]["data"]))
        status, deliveries = harness.call(base, token_a, "GET", f"/api/webhooks/{hook_flaky}/deliveries")
        assert status == 200 and deliveries["meta"]["total"] == 5, deliveries
        for delivery in deliveries["data"]:
            assert delivery["attempts"] == 2 and delivery["last_status_code"] == 200, delivery
            assert delivery["id"] in by_id and delivery["latency_ms"] is not None, delivery
        # Tenant B cannot see or touch A's subscription.
        assert harness.call(base, token_b, "GET", f"/api/webhooks/{hook_flaky}")[0] == 404

        # A ping, then a rotated secret that signs beside the old one, then a redelivery under the same id.
        status, ping = harness.call(base, token_a, "POST", f"/api/webhooks/{hook_a}/test")
        assert status == 200 and ping["data"]["status"] == "delivered" and ping["data"]["event_type"] == "ping", ping
        assert events_of(receiver.at("/ok/a"))[-1]["type"] == "ping"
        status, rotated = harness.call(base, token_a, "POST", f"/api/webhooks/{hook_a}/rotate-secret")
        new_secret = rotated["data"]["secret"]
        assert status == 200 and new_secret != secret_a, rotated
        with receiver.lock:
            receiver.secrets["/ok/a"] = [secret_a, new_secret]  # each must verify on its own
        before = len(receiver.at("/ok/a"))
        harness.call(base, token_a, "POST", "/api/calls", {"sector": "billing"})
        receiver.wait("a delivery after rotation", lambda: len(receiver.at("/ok/a")) > before)
        last = receiver.at("/ok/a")[-1]
        assert last[3] and len(last[1]["webhook-signature"].split(" ")) == 2, last[1]
        delivery = deliveries["data"][0]
        status, again = harness.call(base, token_a, "POST", f"/api/webhooks/{hook_flaky}/deliveries/{delivery['id']}/redeliver")
        assert status == 200 and again["data"]["status"] == "delivered", again
        assert receiver.at("/flaky/a")[-1][1]["webhook-id"] == delivery["id"]

        # A receiver that always fails: after two deliveries spend their retries, the subscription is disabled.
        hook_fail, _ = subscribe(token_b, "/fail/b", ["call.created"])
        for _ in range(2):
            harness.call(base, token_b, "POST", "/api/calls", {"sector": "billing"})
        receiver.wait("the failing subscription to be disabled", lambda: not harness.call(
            base, token_b, "GET", f"/api/webhooks/{hook_fail}")[1]["data"]["active"], seconds=40)
        status, failed = harness.call(base, token_b, "GET", f"/api/webhooks/{hook_fail}/deliveries?status=failed")
        assert failed["meta"]["total"] == 2 and all(d["attempts"] == 3 for d in failed["data"]), failed
        assert "disabled after" in harness.call(base, token_b, "GET", f"/api/webhooks/{hook_fail}")[1]["data"]["disabled_reason"]

        # kill -9 right after the calls are acknowledged: all of them arrive after a restart.
        burst = [harness.call(base, token_a, "POST", "/api/calls", {"sector": "billing"})[1]["data"]["id"] for _ in range(20)]
        process.send_signal(signal.SIGKILL)
        process.wait()
        process, base = harness.start(env, port, log)
        restarted = time.time()
        # A delivery the killed process had claimed but not sent falls due when its 30-second lease ends.
        receiver.wait("every call acknowledged before the crash", lambda: set(burst) <= created_ids("/ok/a"), seconds=30 + 45)
        print(f"kill -9 after {len(burst)} acknowledged calls: all delivered {time.time() - restarted:.1f} s after the restart")
        assert all(verified for (_, _, _, verified) in receiver.at("/ok/a"))
        if args.database_url:
            check_stream_across_processes(env, base, token_a, folder)
        print(f"webhooks ({label}): {len(receiver.received)} deliveries verified with standardwebhooks; retries, ping, "
              f"rotation, redelivery, disabling and kill -9 recovery all hold")
    except BaseException:
        print(open(log).read()[-4000:])
        raise
    finally:
        process.kill()
        receiver.server.shutdown()


if __name__ == "__main__":
    main()
