#!/usr/bin/env bash
# Hand-offs behind a long queue of calls the agent may not take:
#   bench/deep-queue.sh BINARY [sqlite|postgresql]
# Each case is one agent with one line, in a tenant of its own, and CALLS (default 1,000) operations, timed one by one:
# - declines: offers on, the agent never set away for missing them (routing.max_missed_offers 0). It rejects the call
#   offered to it: the call goes back to the head of the queue (it keeps its arrival time), and the agent's freed
#   line goes to the next waiting call it has not declined, behind every call it declined before.
# - skills: CALLS calls wait for a capability the agent lacks. The agent completes its call; a new call it may take
#   arrives behind the backlog, and the freed line goes to it.
# - history: the agent first handles HISTORY (default 10,000) calls one after another, then ten wait behind its call.
#   It completes its call; its freed line goes to the first waiting call, and a new call joins the queue's end.
#   (The tenant's past calls are older than every waiting one: a read of the queue that walks the tenant's calls in
#   their order of arrival passes all of them first.)
# - presence: not a hand-off; the agent first changes its presence HISTORY times (away for a break, back), then each of
#   CALLS changes is timed. (Each change closes the agent's open row of the state log: a look-up of that row that walks
#   the agent's rows in their order of start passes all of them first.)
# Prints one line per case: case=… operations=N first_100_ms=… last_100_ms=… (mean milliseconds an operation).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
binary=$1 database=${2:-sqlite} port=${PORT:-18342} calls=${CALLS:-1000} history=${HISTORY:-10000}
bench_serve "$binary" "$database" "$port" switchboard_deep_queue
for case in ${CASES:-declines skills history presence}; do
  token=$("$binary" token --client-id "deep-$case-$RANDOM$RANDOM" --role admin --ttl 3600)
  python3 - "$port" "$token" "$calls" "$case" "$history" <<'PY'
import http.client, json, sys, time
port, token, calls, case, history = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
connection = http.client.HTTPConnection("127.0.0.1", port)
def send(method, path, body=None):
    connection.request(method, "/api" + path, body=json.dumps(body) if body is not None else None,
                       headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    response = connection.getresponse()
    data = json.loads(response.read() or b"{}")
    if response.status >= 300:
        sys.exit(f"{method} {path}: {response.status} {data}")
    return data.get("data")
def own(status):
    return send("GET", f"/calls?status={status}&agent_id={agent}")
times = []
def timed(method, path, body=None):
    start = time.perf_counter()
    answer = send(method, path, body)
    times.append(time.perf_counter() - start)
    return answer
if case == "declines":
    send("PUT", "/settings", {"routing.offer_timeout_seconds": 300, "routing.max_missed_offers": 0})
    agent = send("POST", "/agents", {"name": "Declines everything", "sector": "billing", "max_concurrent": 1})["id"]
    for _ in range(calls + 1):
        send("POST", "/calls", {"sector": "billing"})
    offered = own("offered")[0]["id"]
    for _ in range(calls):
        answer = timed("POST", f"/calls/{offered}/reject")
        following = own("offered")
        if answer["status"] != "queued" or len(following) != 1 or following[0]["id"] == offered:
            sys.exit(f"the agent was not offered a call it had not declined: {answer['status']}, {following}")
        offered = following[0]["id"]
elif case == "history":
    agent = send("POST", "/agents", {"name": "Long served", "sector": "billing", "max_concurrent": 1})["id"]
    done = {"outcome": "successful", "resolved": True, "handling_time_seconds": 90}
    for handled in range(history):
        send("POST", f"/calls/{send('POST', '/calls', {'sector': 'billing'})['id']}/complete", done)
        if handled % 2000 == 1999:
            print(f"history: {handled + 1} of {history} calls handled", file=sys.stderr)
    active = send("POST", "/calls", {"sector": "billing"})["id"]
    waiting = [send("POST", "/calls", {"sector": "billing"})["id"] for _ in range(10)]
    for _ in range(calls):
        timed("POST", f"/calls/{active}/complete", done)
        current = own("active")
        if [call["id"] for call in current] != waiting[:1]:
            sys.exit(f"the freed line did not go to the first waiting call: {current}")
        active = waiting.pop(0)
        waiting.append(send("POST", "/calls", {"sector": "billing"})["id"])
elif case == "presence":
    agent = send("POST", "/agents", {"name": "Many breaks", "sector": "billing", "max_concurrent": 1})["id"]
    def change(number):
        return {"presence": "away", "reason": "break"} if number % 2 == 0 else {"presence": "available"}
    for number in range(history):
        send("PUT", f"/agents/{agent}/presence", change(number))
        if number % 2000 == 1999:
            print(f"presence: {number + 1} of {history} changes made", file=sys.stderr)
    for number in range(history, history + calls):
        answer = timed("PUT", f"/agents/{agent}/presence", change(number))
        if answer["presence"] != change(number)["presence"]:
            sys.exit(f"the presence did not change: {answer}")
else:
    agent = send("POST", "/agents", {"name": "No French", "sector": "billing", "max_concurrent": 1})["id"]
    active = send("POST", "/calls", {"sector": "billing"})["id"]
    for _ in range(calls):
        send("POST", "/calls", {"sector": "billing", "required_capabilities": ["french"]})
    for _ in range(calls):
        following = send("POST", "/calls", {"sector": "billing"})["id"]
        timed("POST", f"/calls/{active}/complete", {"outcome": "successful", "resolved": True, "handling_time_seconds": 90})
        current = own("active")
        if [call["id"] for call in current] != [following]:
            sys.exit(f"the freed line did not go to the call behind the backlog: {current}")
        active = following
mean = lambda values: 1000 * sum(values) / len(values)
print(f"case={case} operations={calls} first_100_ms={mean(times[:100]):.2f} last_100_ms={mean(times[-100:]):.2f}")
PY
done
