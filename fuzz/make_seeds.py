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


TARGETS = {"verify_standard": verify_standard, "repair": repair}

if __name__ == "__main__":
    for name in sys.argv[1:] or TARGETS:
        TARGETS[name]()
