#!/usr/bin/env python3
"""Write the checked-in seed corpora of fuzz/corpus/<target>/ (deterministic; re-run after the
fixtures change). Signatures are computed here with hashlib/hmac, independently of chathooks.
Usage: python3 fuzz/make_seeds.py [target ...]   (from the repository root or fuzz/)."""
import base64, glob, hashlib, hmac, os, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
NOW = 1_700_000_000  # targets.rs NOW_SECS
STD = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"]
MAX = 16 * 1024


def fixtures(vendor=None):
    pat = os.path.join(ROOT, "tests", "fixtures", vendor or "*", "*.json")
    out = []
    for p in sorted(glob.glob(pat)):
        data = open(p, "rb").read()
        if len(data) < MAX:
            out.append((os.path.splitext(os.path.basename(p))[0], data))
    return out


def delivery(headers, body, query=None):
    out = b"".join(f"{k}: {v}\n".encode() for k, v in headers) + b"\n"
    if query is not None:
        out += b"?" + query.encode() + b"\n"
    return out + body


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    assert len(data) < MAX, (target, name)
    open(os.path.join(d, name), "wb").write(data)


def std_sig(secret, msg_id, ts, body):
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify_standard():
    t = "verify_standard"
    body = b'{"type":"conversation.started","data":{"id":"c_1"}}'
    good = std_sig(STD[0], "msg_1", NOW, body)
    h = lambda sig, ts=NOW, mid="msg_1", p="webhook": [(f"{p}-id", mid), (f"{p}-timestamp", ts), (f"{p}-signature", sig)]
    write(t, "valid", delivery(h(good), body))
    write(t, "valid_rotated_second_key", delivery(h("v1a,AAAA v1,bm90IGl0 " + std_sig(STD[1], "msg_1", NOW, body)), body))
    write(t, "valid_svix_names", delivery(h(good, p="svix"), body))
    write(t, "valid_unpadded", delivery(h(good.rstrip("=")), body))
    write(t, "stale", delivery(h(std_sig(STD[0], "msg_1", NOW - 301, body), ts=NOW - 301), body))
    write(t, "future", delivery(h(std_sig(STD[0], "msg_1", NOW + 301, body), ts=NOW + 301), body))
    write(t, "millis", delivery(h(good, ts=NOW * 1000), body))
    write(t, "negative_ts", delivery(h(good, ts="-1"), body))
    write(t, "huge_ts", delivery(h(good, ts="99999999999999999999999999"), body))
    write(t, "empty_sig", delivery(h("v1,"), body))
    write(t, "truncated_sig", delivery(h(good[:20]), body))
    write(t, "overlong_sig", delivery(h(good + "AAAA"), body))
    write(t, "many_entries", delivery(h(" ".join(["v1,x", "v2,abc", "", "v1", good[:-2] + "=="])), body))
    write(t, "missing_id", delivery(h(good)[1:], body))
    write(t, "long_id", delivery(h(good, mid="m" * 300), body))
    write(t, "valid_with_query_crlf", delivery(h(good), body, query="a=1").replace(b"\n", b"\r\n", 4))
    for name, fx in fixtures()[::6]:
        write(t, "fixture_" + name, delivery(h(std_sig(STD[0], "msg_fx", NOW, fx), mid="msg_fx"), fx))


def repair():
    t = "repair"
    for name, fx in fixtures()[::3]:
        write(t, "fixture_" + name, fx)
    for name, fx in fixtures("saleassist"):
        if "broken" in name:
            write(t, "fixture_" + name, fx)
    cases = {
        "missing_comma": b'{"a": 1 "b": 2}',
        "trailing_comma": b'{"a": [1, 2,],}',
        "unclosed": b'{"a": {"b": [1, {"c": "x"',
        "extra_closer": b'{"a": 1}]}',
        "skipped_closer": b'{"a": [1}',
        "wrapper": b'{"event": "x"}, "headers": {"h": "v"}, "q": 1}',
        "deep": b"[" * 130 + b"]" * 130,
        "strings": b'["\\u00e9\\n", "\xff\xfe", "a\\"b"]',
        "numbers": b"[-0, 1e400, 0.5E-3, 01]",
        "garbage": b'{"a": tru}',
    }
    for k, v in cases.items():
        write(t, k, v)


HMAC = ["fuzz-hmac-secret-0123456789", "rotated-hmac-secret-abcdefgh"]
TOKENS = ["fuzz-token-value-0123456789", "rotated-token-value-abcdefgh"]
SMART = ["fuzz-salesmartly-key-01234567", "rotated-salesmartly-key-abcdef"]


def hm(secret, msg):
    return hmac.new(secret.encode(), msg, hashlib.sha256).digest()


def verify_hmac():
    t = "verify_hmac"
    body = b'{"event":"lead.captured","data":{"email":"a@b.co"}}'
    fx = fixtures()
    ts = str(NOW).encode()
    # The first byte picks the preset: '0' github, '1' slack, '2' stripe, '3' sam, '4' buzzi,
    # '5' conversalabs (index = byte % 6).
    def seeds(b, k=0):
        s = HMAC[k]
        return {
            "0": [("x-hub-signature-256", "sha256=" + hm(s, b).hex()), ("x-github-delivery", "d-1")],
            "1": [("x-slack-request-timestamp", NOW), ("x-slack-signature", "v0=" + hm(s, b"v0:" + ts + b":" + b).hex())],
            "2": [("stripe-signature", f"t={NOW},v0=00,v1=" + hm(s, ts + b"." + b).hex())],
            "3": [("x-sam-signature", base64.b64encode(hm(s, b)).decode())],
            "4": [("x-webhook-signature", "sha256=" + hm(s, b).hex().upper())],
            "5": [("x-chatwoot-timestamp", NOW), ("x-chatwoot-delivery", "cw-1"), ("x-chatwoot-signature", "sha256=" + hm(s, ts + b"." + b).hex())],
        }
    names = ["github", "slack", "stripe", "sam", "buzzi", "conversalabs"]
    for sel, headers in seeds(body).items():
        name = names[int(sel)]
        write(t, f"valid_{name}", sel.encode() + delivery(headers, body))
        bad = [(k, v[:-1] + ("0" if v[-1] != "0" else "1")) if "signature" in k else (k, v) for k, v in headers]
        write(t, f"wrong_{name}", sel.encode() + delivery(bad, body))
    for sel, headers in seeds(body, 1).items():
        if sel in "25":
            write(t, f"valid_rotated_{names[int(sel)]}", sel.encode() + delivery(headers, body))
    for i, (name, b) in enumerate(fx[::8]):
        sel = str(i % 6)
        write(t, f"valid_{names[int(sel)]}_fixture_{name}", sel.encode() + delivery(seeds(b)[sel], b))
    write(t, "stripe_two_t", b"2" + delivery([("stripe-signature", f"t={NOW},t=1,v1=00")], body))
    write(t, "slack_stale", b"1" + delivery([("x-slack-request-timestamp", NOW - 1000), ("x-slack-signature", "v0=" + hm(HMAC[0], b"v0:" + str(NOW - 1000).encode() + b":" + body).hex())], body))
    write(t, "valid_sam_unprefixed_hex_list", b"3" + delivery([("x-sam-signature", "abc, " + hm(HMAC[0], body).hex() + "\tsha256=")], body))


def verify_token():
    t = "verify_token"
    body = b'{"event_type":"widget_new_conversation"}'
    write(t, "valid", delivery([("x-hook-token", TOKENS[0])], body))
    write(t, "valid_rotated", delivery([("X-Hook-Token", TOKENS[1]), ("x-hook-token", TOKENS[0])], body))
    write(t, "wrong", delivery([("x-hook-token", TOKENS[0][:-1] + "X")], body))
    write(t, "prefix_only", delivery([("x-hook-token", TOKENS[0][:10])], body))
    write(t, "missing", delivery([("x-other", TOKENS[0])], body))
    write(t, "valid_second_value", delivery([("x-hook-token", "nope"), ("x-hook-token", TOKENS[0])], body))
    write(t, "non_ascii", delivery([("x-hook-token", "t\u00e9st")], body).replace(b"\\u00e9", b"\xc3\xa9"))


def smart_sig(secret, event, raw_data, ts=None):
    msg = secret.encode() + b"&data=" + raw_data + b"&event=" + event
    if ts is not None:
        msg += b"&timestamp=" + ts
    return hashlib.md5(msg).hexdigest()


def verify_salesmartly():
    t = "verify_salesmartly"
    ts = str(NOW).encode()
    cases = [
        ("object", b"message", b'{"msg":"hi","sender_type":1}'),
        ("number", b"message", b"123"),
        ("array", b"update_user", b'[1, {"a": [true, null]}]'),
    ]
    for name, ev, raw in cases:
        body = b'{"event":"' + ev + b'","data":' + raw + b"}"
        write(t, f"valid_with_ts_{name}", delivery([], body, f"timestamp={NOW}&signature={smart_sig(SMART[0], ev, raw, ts)}"))
        write(t, f"valid_without_ts_{name}", delivery([], body, f"signature={smart_sig(SMART[0], ev, raw)}&timestamp={NOW}"))
    body = b'{ "data" : "123" , "event" : "message" }'
    write(t, "valid_string_data", delivery([], body, f"timestamp={NOW}&signature={smart_sig(SMART[0], b'message', b'123')}"))
    write(t, "valid_rotated_millis_upper", delivery([], body, f"timestamp={NOW * 1000}&signature={smart_sig(SMART[1], b'message', b'123').upper()}"))
    write(t, "valid_percent_encoded", delivery([], body, f"x=1&timestamp=%31{str(NOW)[1:]}&signature={smart_sig(SMART[0], b'message', b'123')}"))
    write(t, "stale", delivery([], body, f"timestamp={NOW - 400}&signature={smart_sig(SMART[0], b'message', b'123')}"))
    write(t, "short_sig", delivery([], body, f"timestamp={NOW}&signature=abc"))
    write(t, "no_data", delivery([], b'{"event":"message"}', f"timestamp={NOW}&signature={'0' * 32}"))
    write(t, "missing_query", delivery([], body))
    write(t, "duplicate_data", delivery([], b'{"event":"e","data":1,"data":2}', f"timestamp={NOW}&signature={smart_sig(SMART[0], b'e', b'1')}"))


def parse_vendor(vendor):
    def seeds():
        t = "parse_" + vendor
        for name, fx in fixtures(vendor):
            write(t, "fixture_" + name, fx)
        write(t, "unknown_with_whitespace", b' \n\t{"event": "x.y", "type": "z", "event_type": "q", "data": {}} \r\n')
        write(t, "not_an_object", b'[1, "two", null]')
        write(t, "numbers_as_strings", b'{"event": "message", "data": {"id": "12", "timestamp": "1700000000000", "sender_type": "1"}}')
    return seeds


def normalize_all():
    t = "normalize_all"
    for name, fx in fixtures()[1::4]:
        write(t, "fixture_" + name, fx)
    for name, fx in fixtures("saleassist"):
        if "broken" in name:
            write(t, "fixture_" + name, fx)


def receive():
    t = "receive"
    h = lambda body, mid="msg_1", ts=NOW, k=0: [("webhook-id", mid), ("webhook-timestamp", ts), ("webhook-signature", std_sig(STD[k], mid, ts, body))]
    bodies = {
        "event": b'{"type":"contact.created","timestamp":"2023-11-14T22:13:20Z","data":{"id":"c_1"}}',
        "broken_json": b'{"type":"message.received","data":{"a":1 "b":[2,3,]}',
        "not_an_event": b'[1,2,3]',
        "beyond_repair": b'{"type": }',
    }
    for name, body in bodies.items():
        write(t, "signed_" + name, delivery(h(body), body))
    write(t, "rotated_key", delivery(h(bodies["event"], k=1), bodies["event"]))
    big = b'{"type":"big","data":"' + b"x" * 5000 + b'"}'
    write(t, "signed_oversized", delivery(h(big), big))
    write(t, "unsigned", delivery([("webhook-id", "msg_1"), ("webhook-timestamp", NOW)], bodies["event"]))
    write(t, "stale", delivery(h(bodies["event"], ts=NOW - 1000), bodies["event"]))
    for name, body in bodies.items():
        write(t, "body_only_" + name, body)
    for name, fx in fixtures("standard"):
        write(t, "fixture_" + name, delivery(h(fx, mid="msg_fx"), fx))


TARGETS = {
    "receive": receive,
    **{f"parse_{v}": parse_vendor(v) for v in ["saleassist", "salesmartly", "sam", "buzzi", "conversalabs", "standard"]},
    "normalize_all": normalize_all,
    "verify_standard": verify_standard,
    "repair": repair,
    "verify_hmac": verify_hmac,
    "verify_token": verify_token,
    "verify_salesmartly": verify_salesmartly,
}

if __name__ == "__main__":
    for name in sys.argv[1:] or TARGETS:
        TARGETS[name]()
