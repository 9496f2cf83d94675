"""Several server processes over one PostgreSQL: load spread across three processes (voice and chat calls, agents
taking one voice call at a time) never pushes an agent over its capacity or its voice limit, and loads always equal
active calls; the aggregator runs in one process at a time (the others skip);
a catalogue change made through one process reaches routes on another at once (LISTEN/NOTIFY).

With `--offers`, calls are offered for 5 s: clients accept or reject through any process, others run out; every offer
is then resolved exactly once (read from the event log: each `call.offered` is followed by exactly one accept,
rejection, time-out, withdrawal or cancellation before the call is offered again).

    python3 tests/reliability/multi_process.py --database-url postgres://… [--offers]
"""
import subprocess
import argparse
import os
import random
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import harness  # noqa: E402


def worker(bases, token_value, stop, failures, offers=False):
    rng = random.Random()
    active, offered = [], []
    while not stop.is_set():
        base = rng.choice(bases)
        if offered and rng.random() < 0.5:
            # Accept most, reject some, through whichever process; an answer may lose to the timer (409).
            call_id = offered.pop(rng.randrange(len(offered)))
            accept = rng.random() < 0.7
            status, body = harness.call(base, token_value, "POST", f"/api/calls/{call_id}/{'accept' if accept else 'reject'}")
            if status == 200 and body["data"]["status"] == "active":
                active.append(call_id)
        elif active and rng.random() < 0.45:
            status, body = harness.call(base, token_value, "POST", f"/api/calls/{active.pop()}/complete",
                                       {"outcome": rng.choice(["successful", "failed"]), "resolved": True,
                                        "satisfaction": rng.randint(1, 5), "handling_time_seconds": rng.randint(30, 300)})
        else:
            channel = random.choice(["voice", "webchat"])
            status, body = harness.call(base, token_value, "POST", "/api/calls", {"sector": "billing", "channel": channel})
            if status == 201 and body["data"]["status"] == "active":
                active.append(body["data"]["id"])
            elif status == 201 and body["data"]["status"] == "offered" and rng.random() < 0.8:
                offered.append(body["data"]["id"])  # the rest run out
        if status >= 500:
            failures.append((status, body))


def token_value_client(env, token_value):
    import base64
    import json
    payload = token_value.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["client_id"]


def offers_resolved_once(database_url, client_id):
    """Walks every call's offer events in order: an offer is open until exactly one accept (`call.assigned` with
    trigger offer), rejection, time-out or cancellation closes it; nothing closes an offer twice or opens a second."""
    rows = subprocess.run(["psql", database_url, "-At", "-F", "\t", "-c",
                           f"SELECT type, data FROM events WHERE client_id = '{client_id}' ORDER BY sequence"],
                          capture_output=True, text=True, check=True).stdout.splitlines()
    import json
    open_offers, problems, offers, closes = {}, [], 0, {"offer": 0, "call.offer_rejected": 0, "call.offer_expired": 0, "cancelled": 0}
    for line in rows:
        kind, data = line.split("\t", 1)
        data = json.loads(data)
        call = data.get("call_id") or data.get("id")
        if kind == "call.offered":
            offers += 1
            if call in open_offers:
                problems.append(f"call {call} offered to {data['agent_id']} while its offer to {open_offers[call]} was open")
            open_offers[call] = data["agent_id"]
        elif kind in ("call.offer_rejected", "call.offer_expired") or (kind == "call.assigned" and data.get("trigger") == "offer"):
            key = "offer" if kind == "call.assigned" else kind
            if open_offers.get(call) != data["agent_id"]:
                problems.append(f"{kind} for call {call} by {data['agent_id']} with no open offer to it")
            open_offers.pop(call, None)
            closes[key] += 1
        elif kind == "call.cancelled" and call in open_offers:
            open_offers.pop(call)
            closes["cancelled"] += 1
    print(f"{offers} offers over the run: {closes['offer']} accepted, {closes['call.offer_rejected']} rejected or withdrawn, "
          f"{closes['call.offer_expired']} ran out, {len(open_offers)} open at the end (every agent offline: none expected)")
    if open_offers:
        problems.append(f"{len(open_offers)} offers still open after every agent went offline")
    return [f"offers: {problem}" for problem in problems[:10]]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--offers", action="store_true")
    parser.add_argument("--clients", type=int, default=8, help="client threads sending calls")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="switchboard-multi-")
    env = harness.server_env(database_url=args.database_url, extra={"SWITCHBOARD_AGGREGATION_INTERVAL": "1"})
    servers = [harness.start(env, harness.free_port(), os.path.join(workdir, f"server-{index}.log")) for index in range(args.processes)]
    bases = [base for _, base in servers]
    token_value = harness.token(env, f"multi-{random.randrange(1 << 30)}")
    failures = []
    try:
        for index in range(12):
            status, _ = harness.call(bases[index % len(bases)], token_value, "POST", "/api/agents",
                                    {"name": f"Agent {index}", "sector": "billing", "max_concurrent": 3, "success_rate": 0.5,
                                     "channel_capacity": {"voice": 1}})
            assert status == 201
        if args.offers:
            status, _ = harness.call(bases[0], token_value, "PUT", "/api/settings",
                                     {"routing.offer_timeout_seconds": 5, "routing.max_missed_offers": 0})
            assert status == 200

        stop, errors = threading.Event(), []
        threads = [threading.Thread(target=worker, args=(bases, token_value, stop, errors, args.offers)) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        deadline, samples, sample_problems = time.time() + args.seconds, 0, []
        while time.time() < deadline:
            for agent in harness.get_all(bases[samples % len(bases)], token_value, "/api/agents"):
                if agent["current_load"] > agent["max_concurrent"]:
                    sample_problems.append(f"{agent['name']} at {agent['current_load']}/{agent['max_concurrent']} during load")
                if agent["channel_loads"]["voice"] > 1:
                    sample_problems.append(f"{agent['name']} on {agent['channel_loads']['voice']} voice calls during load")
            samples += 1
            time.sleep(0.2)
        stop.set()
        for thread in threads:
            thread.join()
        if args.offers:
            # A still floor: every agent offline withdraws the open offers; then count.
            for agent in harness.get_all(bases[0], token_value, "/api/agents"):
                harness.call(bases[agent["name"].__len__() % len(bases)], token_value, "PUT",
                             f"/api/agents/{agent['id']}/presence", {"presence": "offline"})
            time.sleep(1)
            failures += offers_resolved_once(args.database_url, token_value_client(env, token_value))
        agents, active, problems = harness.check_loads(bases[-1], token_value, people=args.offers)
        calls = harness.get_all(bases[0], token_value, "/api/calls")
        print(f"{len(calls)} calls through {len(bases)} processes; {len(active)} active at the end; "
              f"{samples} capacity samples during load; {len(errors)} 5xx answers")
        failures += [f"5xx under load: {failure}" for failure in errors[:5]] + problems + sample_problems

        time.sleep(2.5)
        statuses = [harness.call(base, token_value, "GET", "/api/system/aggregator")[1]["data"] for base in bases]
        runs = [status["runs"] for status in statuses]
        skipped = [status["skipped_runs"] for status in statuses]
        print(f"aggregator runs per process {runs}, skipped because another process held the lease {skipped}")
        if sum(runs) == 0 or any(status.get("last_error") for status in statuses):
            failures.append(f"the aggregator did not run cleanly: {statuses}")

        # A change through process 0 reaches routing on process 1 at once (LISTEN/NOTIFY), far within the
        # default 300 s cache TTL.
        # (A tenant of its own, with no calls: the aggregator, which also drops pools of tenants with fresh
        # metrics, never touches it, so only the notification can make process 1 see the change.)
        quiet = harness.token(env, f"quiet-{random.randrange(1 << 30)}")
        status, before = harness.call(bases[1], quiet, "POST", "/api/routing/route", {"sector": "vip"})
        assert before["data"]["agent_id"] is None, before
        status, star = harness.call(bases[0], quiet, "POST", "/api/agents", {"name": "Star", "sector": "vip", "max_concurrent": 3})
        started, seen = time.time(), False
        while not seen and time.time() - started < 2:
            status, after = harness.call(bases[1], quiet, "POST", "/api/routing/route", {"sector": "vip"})
            seen = after["data"]["agent_id"] == star["data"]["id"]
        print(f"agent created through process 0 chosen by process 1 within {time.time() - started:.2f} s: {seen}")
        if not seen:
            print("  route on process 1:", after["data"]["agent_id"], after["data"]["strategy"], after["data"]["score"],
                  "star:", star["data"]["id"], "candidates:", [(c["agent_id"][:8], round(c["score"], 1)) for c in after["data"]["candidates"][:5]])
        if not seen:
            failures.append("an agent created through process 0 was not chosen by process 1 within 2 s")
    finally:
        for process, _ in servers:
            process.terminate()
        for process, _ in servers:
            process.wait(timeout=20)
    if failures:
        # What the servers said about it (their error lines), so a failure in CI can be read without a rerun.
        for index in range(args.processes):
            with open(os.path.join(workdir, f"server-{index}.log")) as log:
                lines = [line.rstrip() for line in log if " error " in line or "critical" in line]
            for line in lines[:10]:
                print(f"  server {index}: {line[:600]}")
    harness.report("several processes", failures, "capacity held, loads exact, one aggregator at a time, changes propagate at once")


if __name__ == "__main__":
    main()
