// A typical Node webhook bot's receiver, for comparison: verify the signature with
// @octokit/webhooks, parse the payload, evaluate one rule (a pull request needs a CMT:: label),
// answer. It stores nothing.
import http from "node:http";
import { Webhooks } from "@octokit/webhooks";

const webhooks = new Webhooks({ secret: process.env.SECRET });
const port = Number(process.env.PORT || 3001);

http
  .createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks).toString("utf8");
    const signature = req.headers["x-hub-signature-256"];
    let valid = false;
    try {
      valid = Boolean(signature) && (await webhooks.verify(body, signature));
    } catch {
      valid = false;
    }
    if (!valid) {
      res.writeHead(401).end();
      return;
    }
    const payload = JSON.parse(body);
    const labels = payload.pull_request?.labels ?? [];
    const classified = labels.some((l) => l.name.startsWith("CMT::"));
    res.writeHead(202, { "content-type": "application/json" });
    res.end(JSON.stringify({ status: classified ? "pass" : "fail" }));
  })
  .listen(port, "127.0.0.1");
