"""The Twilio voice bridge end to end, against the real server, with Twilio's own Python library as the third party:
its `RequestValidator` signs every simulated webhook exactly as Twilio does (over the public URL, not the loopback
address the request really goes to), and the TwiML answers are read with an XML parser.

- a call to a free agent → `<Dial>` to its SIP URI (a phone number for another agent), the call made with
  external_ref = CallSid and customer_ref = From; the same CallSid twice → one call;
- the `<Dial>` completed with a duration → the call completed with that handling time, counted by the aggregator;
- `no-answer` → the call goes on to the next agent; all agents busy → queued TwiML with the position and a redirect
  to the wait address, which later dials the freed agent; the caller hanging up in the queue → cancelled;
- with after-call work: the call waits for the desk's disposition (handling = talk + wrap-up so far), or gets the
  default disposition when the wrap-up ends; with offers: the agent's phone answering accepts the offer;
- a bad or missing signature → 403 with no detail and nothing written; an unknown channel → 404;
- two tenants' channels never cross (one tenant's token never opens the other's channel);
- texts: the first from a number opens a conversation, later ones join it (a retried MessageSid once), a closed one
  is not joined again, WhatsApp too; the acknowledgement is the tenant's setting;
- the channel's request log shows what came in and what became of it.

Usage: python3 tests/twilio/twilio_bridge.py [--database-url postgres://…]
"""
import argparse
import os
import secrets
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ElementTree

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import harness  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

PUBLIC_URL = "https://switchboard.example.test/sb"


class Number:
    """One tenant's Twilio number: signs and posts its webhooks as Twilio would."""

    def __init__(self, base, channel, auth_token):
        self.base = base
        self.urls = channel["webhook_urls"]
        self.validator = RequestValidator(auth_token)

    def post(self, public_url, params, signature=None, sign=True):
        """(status, body text, parsed TwiML or None)."""
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if sign:
            headers["X-Twilio-Signature"] = signature or self.validator.compute_signature(public_url, params)
        path = public_url[len(PUBLIC_URL):]
        request = urllib.request.Request(self.base + path, data=urllib.parse.urlencode(params).encode(), method="POST",
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                text = response.read().decode()
                return response.status, text, ElementTree.fromstring(text)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), None

    def incoming(self, call_sid, caller="+447700900123"):
        return self.post(self.urls["voice"], {"CallSid": call_sid, "AccountSid": "AC" + "0" * 32, "From": caller,
                                              "To": "+15005550001", "CallStatus": "ringing", "Direction": "inbound"})


def dial_of(twiml):
    dial = twiml.find("Dial")
    return None if dial is None else dial


def dialled(twiml):
    """('sip'|'number'|'client', address) of the answer's <Dial>, or None."""
    dial = dial_of(twiml)
    if dial is None:
        return None
    noun = list(dial)[0]
    return noun.tag.lower(), noun.text


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    arguments = parser.parse_args()
    failures = []

    def check(condition, message):
        if not condition:
            failures.append(message)
        return condition

    folder = tempfile.mkdtemp(prefix="switchboard-twilio-")
    env = harness.server_env(sqlite_path=None if arguments.database_url else os.path.join(folder, "db.sqlite"),
                             database_url=arguments.database_url,
                             extra={"SWITCHBOARD_PUBLIC_URL": PUBLIC_URL, "SWITCHBOARD_AGGREGATION_INTERVAL": "3600"})
    process, base = harness.start(env, harness.free_port(), os.path.join(folder, "server.log"))
    try:
        suffix = secrets.token_hex(4)
        tenant, other_tenant = f"twilio-a-{suffix}", f"twilio-b-{suffix}"
        api = harness.api_as(base, harness.mint(tenant, "admin@a", role="admin"))
        other_api = harness.api_as(base, harness.mint(other_tenant, "admin@b", role="admin"))

        alice = api("POST", "/api/agents", {"name": "Alice", "sector": "support", "priority": 10, "max_concurrent": 1,
                                            "contact": {"sip": "sip:alice@example.sip.twilio.com"}})
        bob = api("POST", "/api/agents", {"name": "Bob", "sector": "support", "priority": 5, "max_concurrent": 1,
                                          "contact": {"phone": "+15005550006"}})
        token = secrets.token_hex(16)
        channel = api("POST", "/api/channels", {
            "type": "voice", "name": "Main line", "sector": "support",
            "config": {"provider": "twilio", "phone_number": "+15005550001"},
            "credentials": {"account_sid": "AC" + secrets.token_hex(16), "auth_token": token}})
        check(channel["webhook_urls"]["voice"] == f"{PUBLIC_URL}/hooks/twilio/{channel['id']}/voice",
              f"webhook_urls: {channel['webhook_urls']}")
        number = Number(base, channel, token)

        def calls_with(ref, client_api=api):
            return [c for c in harness.get_all(base, harness.mint(tenant if client_api is api else other_tenant, "x", "admin"),
                                               "/api/calls") if c["external_ref"] == ref]

        # A call to a free agent: dialled to Alice's SIP address; retried by Twilio: still one call.
        status, text, twiml = number.incoming("CA0001")
        check(status == 200 and dialled(twiml) == ("sip", "sip:alice@example.sip.twilio.com"), f"first call: {status} {text}")
        check(twiml is not None and twiml.find("Say") is not None, "the greeting is said first")
        dial = dial_of(twiml)
        check(dial is not None and dial.get("timeout") == "30" and "/status?call=" in dial.get("action", ""),
              f"dial attributes: {text}")
        _, text_again, twiml_again = number.incoming("CA0001")
        check(dialled(twiml_again) == ("sip", "sip:alice@example.sip.twilio.com"), f"retry: {text_again}")
        first = calls_with("CA0001")
        check(len(first) == 1, f"the same CallSid twice made {len(first)} calls")
        first = first[0]
        check(first["agent_id"] == alice["id"] and first["customer_ref"] == "+447700900123" and first["channel"] == "voice",
              f"the call: {first}")

        # The talk ends: completed with the dial's duration (no wrap-up in this tenant), counted by the aggregator.
        status, text, twiml = number.post(dial.get("action"), {"CallSid": "CA0001", "DialCallStatus": "completed",
                                                              "DialCallDuration": "42", "DialCallSid": "CAleg1"})
        check(status == 200 and twiml.find("Hangup") is not None, f"dial completed: {status} {text}")
        done = api("GET", f"/api/calls/{first['id']}")
        check(done["status"] == "completed" and done["handling_time_seconds"] == 42 and done["outcome"] == "successful"
              and done["resolved"] is False and done["talk_seconds"] == 42, f"completed call: {done}")
        api("POST", "/api/system/aggregator/run")
        today = time.strftime("%Y-%m-%d", time.gmtime())
        metrics = api("GET", f"/api/agents/{alice['id']}/metrics?from={today}&to={today}")
        rows = metrics if isinstance(metrics, list) else metrics.get("daily", metrics.get("rows", []))
        check(any(row.get("calls_handled") == 1 and row.get("avg_handling_time") == 42 for row in rows),
              f"aggregated: {metrics}")

        # No answer from Alice: the call goes on to Bob, dialled at his phone number.
        _, text, twiml = number.incoming("CA0002")
        check(dialled(twiml) == ("sip", "sip:alice@example.sip.twilio.com"), f"second call: {text}")
        status, text, twiml = number.post(dial_of(twiml).get("action"), {"CallSid": "CA0002", "DialCallStatus": "no-answer"})
        check(status == 200 and dialled(twiml) == ("number", "+15005550006"), f"no-answer goes on: {status} {text}")
        second = calls_with("CA0002")[0]
        check(second["agent_id"] == bob["id"] and second["status"] == "active", f"after no-answer: {second}")
        bob_action = dial_of(twiml).get("action")

        # Alice takes the next call; then everybody is busy: the caller waits, told their place.
        _, text, twiml = number.incoming("CA0003")
        check(dialled(twiml) == ("sip", "sip:alice@example.sip.twilio.com"), f"third call: {text}")
        status, text, twiml = number.incoming("CA0004")
        check(status == 200 and dial_of(twiml) is None, f"fourth call should wait: {text}")
        says = " ".join(say.text or "" for say in twiml.findall("Say"))
        redirect = twiml.find("Redirect")
        check("number 1" in says, f"the queue message names the place: {says!r}")
        check(twiml.find("Pause") is not None and redirect is not None and "/wait?call=" in (redirect.text or ""),
              f"held and redirected: {text}")
        fourth = calls_with("CA0004")[0]
        check(fourth["status"] == "queued", f"fourth call: {fourth}")
        _, text, twiml = number.post(redirect.text, {"CallSid": "CA0004", "CallStatus": "in-progress"})
        check(dial_of(twiml) is None and twiml.find("Redirect") is not None, f"still waiting: {text}")
        # Bob's talk ends: he takes the waiting call, which the next look at the queue dials.
        number.post(bob_action, {"CallSid": "CA0002", "DialCallStatus": "completed", "DialCallDuration": "30"})
        _, text, twiml = number.post(redirect.text, {"CallSid": "CA0004", "CallStatus": "in-progress"})
        check(dialled(twiml) == ("number", "+15005550006"), f"the freed agent is dialled: {text}")
        check(twiml.find("Say") is None, "no second greeting")

        # A caller hangs up while waiting: the call is cancelled (the console's status callback names only the CallSid).
        _, text, twiml = number.incoming("CA0005")
        check(twiml.find("Redirect") is not None, f"fifth call waits: {text}")
        status, text, _ = number.post(channel["webhook_urls"]["status"], {"CallSid": "CA0005", "CallStatus": "completed",
                                                                         "CallDuration": "12"})
        fifth = calls_with("CA0005")[0]
        check(status == 200 and fifth["status"] == "cancelled", f"hang-up in the queue: {status} {fifth}")

        # Bad or missing signatures: 403 with no detail, nothing written; an unknown channel: 404.
        params = {"CallSid": "CA0006", "From": "+447700900999"}
        status, text, _ = number.post(number.urls["voice"], params, signature="bm90IGEgc2lnbmF0dXJl")
        check(status == 403 and text == "", f"wrong signature: {status} {text!r}")
        status, text, _ = number.post(number.urls["voice"], params, sign=False)
        check(status == 403 and text == "", f"no signature: {status} {text!r}")
        signed_elsewhere = number.validator.compute_signature(number.urls["voice"].replace("/voice", "/wait"), params)
        status, _, _ = number.post(number.urls["voice"], params, signature=signed_elsewhere)
        check(status == 403, f"a signature for another address: {status}")
        check(calls_with("CA0006") == [], "a refused request wrote a call")
        unknown = number.urls["voice"].replace(channel["id"], "00000000-0000-4000-8000-000000000000")
        status, text, _ = number.post(unknown, params)
        check(status == 404 and text == "", f"unknown channel: {status} {text!r}")

        # Two tenants: B's number, signed with A's token, is refused; B's own calls stay B's.
        other_token = secrets.token_hex(16)
        other_api("POST", "/api/agents", {"name": "Carol", "sector": "support", "contact": {"client": "carol"}})
        other_channel = other_api("POST", "/api/channels", {
            "type": "voice", "name": "B line", "sector": "support",
            "config": {"provider": "twilio", "phone_number": "+15005550002"},
            "credentials": {"account_sid": "AC" + secrets.token_hex(16), "auth_token": other_token}})
        crossed = Number(base, other_channel, token)
        status, _, _ = crossed.incoming("CB0001")
        check(status == 403, f"tenant B's number signed with tenant A's token: {status}")
        other_number = Number(base, other_channel, other_token)
        _, text, twiml = other_number.incoming("CB0001")
        check(dialled(twiml) == ("client", "carol"), f"tenant B's call: {text}")
        check(calls_with("CB0001") == [], "tenant B's call is visible to tenant A")
        check(len(calls_with("CB0001", other_api)) == 1, "tenant B's call is B's")

        # After-call work: the talk ends, the desk gives the disposition; or the wrap-up ends and the default applies.
        api("PUT", "/api/settings", {"calls.wrap_up_seconds": 2})
        api("POST", f"/api/calls/{calls_with('CA0003')[0]['id']}/cancel")
        _, text, twiml = number.incoming("CA0007")
        if not check(dial_of(twiml) is not None, f"seventh call dialled: {text}"):
            raise AssertionError(failures)
        action = dial_of(twiml).get("action")
        number.post(action, {"CallSid": "CA0007", "DialCallStatus": "completed", "DialCallDuration": "10"})
        seventh = calls_with("CA0007")[0]
        check(seventh["status"] == "active" and seventh["talk_seconds"] == 10 and seventh["wrap_up_until"],
              f"the talk ended, the disposition waits: {seventh}")
        again = number.post(action, {"CallSid": "CA0007", "DialCallStatus": "completed", "DialCallDuration": "10"})
        check(again[0] == 200 and calls_with("CA0007")[0]["talk_ended_at"] == seventh["talk_ended_at"], "a repeated report changes nothing")
        completed = api("POST", f"/api/calls/{seventh['id']}/complete",
                        {"outcome": "failed", "resolved": False, "satisfaction": 2, "handling_time_seconds": 999})
        check(completed["outcome"] == "failed" and 10 <= completed["handling_time_seconds"] <= 12,
              f"the desk's disposition: {completed}")
        deadline = time.time() + 10
        while time.time() < deadline and api("GET", f"/api/agents/{alice['id']}")["state"] != "available":
            time.sleep(0.3)
        _, text, twiml = number.incoming("CA0008")
        eighth_agent = calls_with("CA0008")[0]["agent_id"]
        if not check(dialled(twiml) is not None, f"eighth call dialled once Alice's wrap-up ended: {text}"):
            raise AssertionError(failures)
        number.post(dial_of(twiml).get("action"), {"CallSid": "CA0008", "DialCallStatus": "completed", "DialCallDuration": "5"})
        deadline = time.time() + 10
        while time.time() < deadline and calls_with("CA0008")[0]["status"] != "completed":
            time.sleep(0.5)
        eighth = calls_with("CA0008")[0]
        check(eighth["status"] == "completed" and eighth["outcome"] == "successful" and eighth["resolved"] is False
              and eighth["handling_time_seconds"] == 7 and eighth["agent_id"] == eighth_agent,
              f"the default disposition at the end of the wrap-up: {eighth}")

        # Offers: the agent's phone answering accepts the offer; the ring lasts no longer than the offer.
        api("PUT", "/api/settings", {"calls.wrap_up_seconds": 0, "routing.offer_timeout_seconds": 20})
        deadline = time.time() + 10
        while time.time() < deadline and api("GET", f"/api/agents/{eighth_agent}")["state"] != "available":
            time.sleep(0.3)
        _, text, twiml = number.incoming("CA0009")
        dial = dial_of(twiml)
        check(dial is not None and int(dial.get("timeout")) <= 20, f"offered call dialled within the offer: {text}")
        ninth = calls_with("CA0009")[0]
        check(ninth["status"] == "offered", f"ninth call offered: {ninth}")
        noun = list(dial)[0]
        check(noun.get("statusCallbackEvent") == "answered", f"the agent's answer is reported: {text}")
        status, _, _ = number.post(noun.get("statusCallback"), {"CallSid": "CAleg9", "ParentCallSid": "CA0009",
                                                                "CallStatus": "in-progress"})
        check(status == 200 and calls_with("CA0009")[0]["status"] == "active", f"answered = accepted: {calls_with('CA0009')[0]}")

        # Texts: the first message from a number opens a conversation, later ones join it until it is completed;
        # a retried MessageSid is stored once; WhatsApp senders keep their prefix.
        sms = api("POST", "/api/channels", {
            "type": "sms", "name": "Texts", "sector": "support", "config": {"provider": "twilio", "sender": "+15005550003"},
            "credentials": {"account_sid": "AC" + secrets.token_hex(16), "auth_token": token}})
        check(list(sms["webhook_urls"]) == ["messaging"], f"an SMS channel's webhook_urls: {sms['webhook_urls']}")
        texts = Number(base, sms, token)

        def text(sid, sender, body, numbers=texts):
            return numbers.post(numbers.urls["messaging"], {"MessageSid": sid, "AccountSid": "AC" + "0" * 32, "From": sender,
                                                            "To": "+15005550003", "Body": body, "NumSegments": "1"})

        status, answer, twiml = text("SM0001", "+447700900555", "Hello, my order is late")
        check(status == 200 and twiml.find("Message") is not None and "Thanks" in (twiml.find("Message").text or ""),
              f"the first text is acknowledged: {status} {answer}")
        text("SM0002", "+447700900555", "Order 1234")
        text("SM0002", "+447700900555", "Order 1234")
        text("SM0003", "+447700900777", "Another customer")
        conversations = [c for c in harness.get_all(base, harness.mint(tenant, "x", "admin"), "/api/calls")
                         if c["channel"] == "sms"]
        by_customer = {c["customer_ref"]: c for c in conversations}
        check(len(conversations) == 2 and set(by_customer) == {"+447700900555", "+447700900777"},
              f"one conversation per sender: {conversations}")
        thread = api("GET", f"/api/calls/{by_customer['+447700900555']['id']}")
        check([m["body"] for m in thread.get("messages", [])] == ["Hello, my order is late", "Order 1234"]
              and thread["messages"][0]["from"] == "+447700900555", f"the thread: {thread.get('messages')}")
        api("POST", f"/api/calls/{thread['id']}/cancel")
        text("SM0004", "+447700900555", "Hello again")
        reopened = [c for c in harness.get_all(base, harness.mint(tenant, "x", "admin"), "/api/calls")
                    if c["channel"] == "sms" and c["customer_ref"] == "+447700900555"]
        check(len(reopened) == 2, f"a closed conversation is not joined again: {reopened}")
        api("PUT", "/api/settings", {"twilio.messaging.ack_message": ""})
        whatsapp = api("POST", "/api/channels", {
            "type": "whatsapp", "name": "WhatsApp", "sector": "support",
            "config": {"provider": "twilio", "business_number": "+15005550004"},
            "credentials": {"account_sid": "AC" + secrets.token_hex(16), "auth_token": token}})
        status, answer, twiml = text("SM0005", "whatsapp:+447700900888", "Hi on WhatsApp", Number(base, whatsapp, token))
        check(status == 200 and twiml is not None and len(list(twiml)) == 0, f"no acknowledgement when it is empty: {answer}")
        check(any(c["channel"] == "whatsapp" and c["customer_ref"] == "whatsapp:+447700900888"
                  for c in harness.get_all(base, harness.mint(tenant, "x", "admin"), "/api/calls")), "the WhatsApp conversation")
        check(texts.post(texts.urls["messaging"].replace("/messaging", "/voice"), {"CallSid": "CA9"})[0] == 404,
              "an SMS channel takes no voice calls")

        # The channel's request log: what came in, and what became of it (a refused signature says why).
        log = api("GET", f"/api/channels/{channel['id']}/requests")
        check(any(entry["status"] == 403 and "signature" in entry["result"] for entry in log)
              and any(entry["hook"] == "voice" and entry["result"].startswith("say, dial") for entry in log),
              f"the request log: {log[:5]}")

        _, _, problems = harness.check_loads(base, harness.mint(tenant, "x", "admin"), people=True)
        for problem in problems:
            failures.append(problem)
    finally:
        process.terminate()
        process.wait(timeout=30)

    label = "PostgreSQL" if arguments.database_url else "SQLite"
    harness.report(f"twilio bridge ({label})", failures,
                   "signed webhooks dial, queue, hand on, complete, cancel; texts thread; bad signatures refused; tenants apart")


if __name__ == "__main__":
    main()
