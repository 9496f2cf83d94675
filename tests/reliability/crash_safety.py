"""Crash safety: clients create and complete calls while the server is killed with SIGKILL mid-load; after a
restart, every call a client saw acknowledged exists in its acknowledged state (or a state it could legitimately
have reached since), and every agent's current_load, and its load on each channel, equals its active calls (half the
agents take one voice call at a time beside chats and emails, and calls come on all three).

With `--people`, agents are people: calls are offered (5 s to accept), agents accept or reject them, and a completed
call keeps its slot for 3 s of wrap-up; once the restarted server answers, no offer or wrap-up whose time passed
while it was down is still open, and loads equal offered, active and wrapping-up calls.

    python3 tests/reliability/crash_safety.py [--database-url postgres://…] [--clients 6] [--seconds 3] [--people]
"""
import argparse
import os
import random
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import harness  # noqa: E402


def client_loop(base, token_value, stop, ledger, lock):
    rng = random.Random()
    mine = []
    while not stop.is_set():
        try:
            if mine and rng.random() < 0.45:
                call_id = mine.pop(rng.randrange(len(mine)))
                with lock:
                    ledger[call_id]["completion_attempted"] = True
                status, body = harness.call(base, token_value, "POST", f"/api/calls/{call_id}/complete",
                                           {"outcome": "successful", "resolved": True, "handling_time_seconds": 30})
                if status == 200:
                    with lock:
                        ledger[call_id]["acknowledged"] = "completed"
            else:
                channel = rng.choice(["voice", "voice", "webchat", "email"])
                status, body = harness.call(base, token_value, "POST", "/api/calls", {"sector": "billing", "channel": channel})
                if status == 201:
                    call_id = body["data"]["id"]
                    with lock:
                        ledger[call_id] = {"acknowledged": body["data"]["status"], "completion_attempted": False}
                    if body["data"]["status"] == "active":
                        mine.append(call_id)
        except OSError:
            time.sleep(0.05)  # the server is gone: requests in flight have unknown outcomes


def people_loop(base, token_value, stop, ledger, lock):
    """Agents' desks: accept most offers, reject some, complete accepted calls (each then wraps up)."""
    rng = random.Random()
    offered, active = [], []
    while not stop.is_set():
        try:
            roll = rng.random()
            if offered and roll < 0.35:
                call_id = offered.pop(rng.randrange(len(offered)))
                accept = rng.random() < 0.8
                status, body = harness.call(base, token_value, "POST", f"/api/calls/{call_id}/{'accept' if accept else 'reject'}")
                if status == 200:
                    with lock:
                        ledger[call_id]["acknowledged"] = body["data"]["status"]
                    if body["data"]["status"] == "active":
                        active.append(call_id)
            elif active and roll < 0.6:
                call_id = active.pop(rng.randrange(len(active)))
                with lock:
                    ledger[call_id]["completion_attempted"] = True
                status, body = harness.call(base, token_value, "POST", f"/api/calls/{call_id}/complete",
                                           {"outcome": "successful", "resolved": True, "handling_time_seconds": 30})
                if status == 200:
                    with lock:
                        ledger[call_id]["acknowledged"] = "completed"
            else:
                status, body = harness.call(base, token_value, "POST", "/api/calls",
                                           {"sector": "billing", "channel": rng.choice(["voice", "webchat"])})
                if status == 201:
                    call_id = body["data"]["id"]
                    with lock:
                        ledger[call_id] = {"acknowledged": body["data"]["status"], "completion_attempted": False}
                    if body["data"]["status"] == "offered":
                        offered.append(call_id)
        except OSError:
            time.sleep(0.05)


def allowed_states(entry, people=False):
    if people and entry["acknowledged"] in ("queued", "offered"):
        # Offers run out (also while the server is down), calls go back to the queue and are offered again.
        return {"queued", "offered", "active"} | ({"completed"} if entry["completion_attempted"] else set())
    acknowledged = entry["acknowledged"]
    if acknowledged == "completed":
        return {"completed"}
    states = {acknowledged}
    if acknowledged == "queued":
        states.add("active")  # the queue hands it to an agent as capacity frees up
    if entry["completion_attempted"]:
        states.add("completed")
    return states


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--people", action="store_true")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="switchboard-crash-")
    env = harness.server_env(sqlite_path=os.path.join(workdir, "crash.sqlite"), database_url=args.database_url)
    log_path = os.path.join(workdir, "server.log")
    port = harness.free_port()
    process, base = harness.start(env, port, log_path)
    token_value = harness.token(env, f"crash-{random.randrange(1 << 30)}")
    # Half the agents take one voice call at a time beside their chats and emails.
    harness.seed_agents(base, token_value, channel_capacity={"voice": 1, "webchat": 3})
    if args.people:
        status, _ = harness.call(base, token_value, "PUT", "/api/settings",
                                 {"routing.offer_timeout_seconds": 5, "calls.wrap_up_seconds": 3, "routing.max_missed_offers": 0})
        assert status == 200, status

    ledger, lock = {}, threading.Lock()
    for round_number in range(1, args.rounds + 1):
        stop = threading.Event()
        loop = people_loop if args.people else client_loop
        threads = [threading.Thread(target=loop, args=(base, token_value, stop, ledger, lock)) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        time.sleep(args.seconds)
        process.send_signal(signal.SIGKILL)
        process.wait()
        time.sleep(0.3)
        stop.set()
        for thread in threads:
            thread.join()
        if args.people:
            time.sleep(6)  # every offer and wrap-up open at the crash comes due while the server is down
        launched = time.time()
        process, base = harness.start(env, port, log_path)
        overdue = []
        if args.people:
            # Before it answers its first request, the new process ends what came due while none ran.
            cutoff = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(launched - 1))
            overdue = [f"offer of {item['id']} still open, due {item['offer_expires_at']}"
                       for item in harness.get_all(base, token_value, "/api/calls?status=offered")
                       if item["offer_expires_at"] < cutoff]
            overdue += [f"wrap-up of {item['id']} still open, due {item['wrap_up_until']}"
                        for item in harness.get_all(base, token_value, "/api/calls?status=completed")
                        if item.get("wrap_up_until") and not item.get("wrap_up_ended_at") and item["wrap_up_until"] < cutoff]
            # A still floor to count on: every agent offline (offers withdrawn), wrap-ups over.
            for agent in harness.get_all(base, token_value, "/api/agents"):
                harness.call(base, token_value, "PUT", f"/api/agents/{agent['id']}/presence", {"presence": "offline"})
            time.sleep(3.5)

        missing, wrong = [], []
        for call_id, entry in list(ledger.items()):
            status, body = harness.call(base, token_value, "GET", f"/api/calls/{call_id}")
            if status != 200:
                missing.append(call_id)
            elif body["data"]["status"] not in allowed_states(entry, args.people):
                wrong.append((call_id, entry, body["data"]["status"]))
        agents, active, problems = harness.check_loads(base, token_value, people=args.people)
        completed = sum(1 for entry in ledger.values() if entry["acknowledged"] == "completed")
        print(f"round {round_number}: {len(ledger)} acknowledged calls ({completed} completions acknowledged), "
              f"{len(active)} active after restart, {len(agents)} agents checked")
        failures = ([f"acknowledged call {call_id} is missing" for call_id in missing]
                    + [f"call {call_id}: acknowledged {entry}, now {state}" for call_id, entry, state in wrong] + problems
                    + overdue)
        if failures:
            process.kill()
            harness.report(f"crash safety (round {round_number})", failures, "")
        if args.people:
            for agent in agents:
                harness.call(base, token_value, "PUT", f"/api/agents/{agent['id']}/presence", {"presence": "available"})
        # Next round: keep completing the calls that survived.
    process.terminate()
    process.wait(timeout=20)
    harness.report("crash safety" + (" (people: offers and wrap-ups)" if args.people else ""), [],
                   "every acknowledged call survived in an allowed state; loads equal the calls holding slots"
                   + ("; no offer or wrap-up overdue after the restart" if args.people else ""))


if __name__ == "__main__":
    main()
