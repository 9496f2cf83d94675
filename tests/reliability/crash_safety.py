"""Crash safety: clients create and complete calls while the server is killed with SIGKILL mid-load; after a
restart, every call a client saw acknowledged exists in its acknowledged state (or a state it could legitimately
have reached since), and every agent's current_load, and its load on each channel, equals its active calls (half the
agents take one voice call at a time beside chats and emails, and calls come on all three).

    python3 tests/reliability/crash_safety.py [--database-url postgres://…] [--clients 6] [--seconds 3]
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


def allowed_states(entry):
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
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="switchboard-crash-")
    env = harness.server_env(sqlite_path=os.path.join(workdir, "crash.sqlite"), database_url=args.database_url)
    log_path = os.path.join(workdir, "server.log")
    port = harness.free_port()
    process, base = harness.start(env, port, log_path)
    token_value = harness.token(env, f"crash-{random.randrange(1 << 30)}")
    # Half the agents take one voice call at a time beside their chats and emails.
    harness.seed_agents(base, token_value, channel_capacity={"voice": 1, "webchat": 3})

    ledger, lock = {}, threading.Lock()
    for round_number in range(1, args.rounds + 1):
        stop = threading.Event()
        threads = [threading.Thread(target=client_loop, args=(base, token_value, stop, ledger, lock)) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        time.sleep(args.seconds)
        process.send_signal(signal.SIGKILL)
        process.wait()
        time.sleep(0.3)
        stop.set()
        for thread in threads:
            thread.join()
        process, base = harness.start(env, port, log_path)

        missing, wrong = [], []
        for call_id, entry in list(ledger.items()):
            status, body = harness.call(base, token_value, "GET", f"/api/calls/{call_id}")
            if status != 200:
                missing.append(call_id)
            elif body["data"]["status"] not in allowed_states(entry):
                wrong.append((call_id, entry, body["data"]["status"]))
        agents, active, problems = harness.check_loads(base, token_value)
        completed = sum(1 for entry in ledger.values() if entry["acknowledged"] == "completed")
        print(f"round {round_number}: {len(ledger)} acknowledged calls ({completed} completions acknowledged), "
              f"{len(active)} active after restart, {len(agents)} agents checked")
        failures = ([f"acknowledged call {call_id} is missing" for call_id in missing]
                    + [f"call {call_id}: acknowledged {entry}, now {state}" for call_id, entry, state in wrong] + problems)
        if failures:
            process.kill()
            harness.report(f"crash safety (round {round_number})", failures, "")
        # Next round: keep completing the calls that survived.
    process.terminate()
    process.wait(timeout=20)
    harness.report("crash safety", [], "every acknowledged call survived in an allowed state; loads equal active calls")


if __name__ == "__main__":
    main()
