# Sends N signed pull_request.labeled deliveries (unique ids, one change) over C keep-alive
# connections, then waits until the worker has processed every one of them.
# Usage: drive.py PORT N C DB SECRET
import hashlib, hmac, http.client, json, sqlite3, sys, threading, time
port, n, c, db, secret = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
body = json.dumps(json.load(open("tests/fixtures/github/pull_request.labeled.1.json")), separators=(",", ":")).encode()
sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
codes = {}
lock = threading.Lock()
def send(k):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    for i in range(k, n, c):
        conn.request("POST", "/webhooks/github", body, {"Content-Type": "application/json",
            "X-GitHub-Event": "pull_request", "X-GitHub-Delivery": f"cg-{i}", "X-Hub-Signature-256": sig})
        r = conn.getresponse(); r.read()
        with lock: codes[r.status] = codes.get(r.status, 0) + 1
threads = [threading.Thread(target=send, args=(k,)) for k in range(c)]
[t.start() for t in threads]; [t.join() for t in threads]
while sqlite3.connect(db).execute("select count(*) from jobs j join deliveries d on d.id = j.delivery "
        "where d.delivery_id like 'cg-%' and j.state in ('queued', 'running')").fetchone()[0]:
    time.sleep(0.5)
print(f"answers: {codes}", file=sys.stderr)
