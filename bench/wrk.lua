-- POSTs the same signed payload with a unique X-GitHub-Delivery per request, so that every
-- request is a new delivery to store.
local body = assert(io.open(os.getenv("BODY_FILE"), "rb")):read("*a")
local signature = os.getenv("SIGNATURE")
local counter = 0
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function request()
  counter = counter + 1
  return wrk.format("POST", "/webhooks/github", {
    ["Content-Type"] = "application/json",
    ["X-GitHub-Event"] = "pull_request",
    ["X-GitHub-Delivery"] = string.format("wrk-%s-%d-%d", os.getenv("RUN_ID") or "0", tid or 0, counter),
    ["X-Hub-Signature-256"] = signature,
  }, body)
end
