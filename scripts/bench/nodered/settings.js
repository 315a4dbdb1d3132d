// Node-RED settings for the Sanjog side-by-side relay benchmark (see README.md).
// start.sh copies this file and flows.json into the user directory.
// Static file: everything that differs per run (port, secrets, sink URL) comes
// from the command line or the environment (APP_SECRET, OUT_SECRET, SINK_URL).
"use strict";

const MAX_BODY = 1024 * 1024; // 1 MB, like a provider-facing webhook limit

// Runs before Node-RED's own parsers on every `http in` route. For POST it
// reads the body once into req.rawBody (a Buffer, needed for the HMAC over the
// exact bytes) and parses it as JSON. Setting req._body = true makes
// Node-RED's json/urlencoded/raw parsers (body-parser semantics) skip the
// request, so the stream is not read twice.
function rawJsonBody(req, res, next) {
  if (req.method !== "POST" || req._body) return next();
  const declared = Number(req.headers["content-length"]);
  if (declared > MAX_BODY) {
    res.set("Connection", "close");
    return res.status(413).send("payload too large");
  }
  const chunks = [];
  let size = 0, done = false;
  const finish = (fn) => { if (!done) { done = true; fn(); } };
  req.on("data", (c) => {
    if (done) return;
    size += c.length;
    if (size > MAX_BODY) {
      finish(() => {
        res.set("Connection", "close");
        res.status(413).send("payload too large");
        req.resume(); // drain and drop the rest
      });
      return;
    }
    chunks.push(c);
  });
  req.on("end", () => finish(() => {
    const raw = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
    let body;
    try {
      body = JSON.parse(raw.toString("utf8"));
    } catch (e) {
      return res.status(400).send("invalid JSON");
    }
    req.rawBody = raw;
    req.body = body;
    req._body = true;
    next();
  }));
  req.on("error", (err) => finish(() => next(err)));
}

module.exports = {
  uiHost: "127.0.0.1",           // loopback only; the port comes from `-p`
  flowFile: "flows.json",        // relative to the user directory (-u)
  flowFilePretty: true,
  credentialSecret: false,       // no credentials in this flow; no key prompt/warning
  httpAdminRoot: false,          // no editor, no admin API
  disableEditor: true,
  httpNodeRoot: "/",
  httpNodeMiddleware: rawJsonBody,
  // crypto for the function nodes: global.get("crypto")
  functionGlobalContext: { crypto: require("crypto") },
  functionExternalModules: false,
  // Default store: memory. "file" store: localfilesystem, used by the flow for
  // dedup keys and stored events. It keeps everything in memory and writes
  // the context files on an interval (flushInterval, default 30 s) and on
  // shutdown: an accepted event can be lost by a crash up to 30 s later,
  // unlike Sanjog, which fsyncs (group commit) before answering 2xx.
  contextStorage: {
    default: { module: "memory" },
    file: { module: "localfilesystem" }   // config: { flushInterval: 30 } is the default
  },
  logging: {
    console: { level: "warn", metrics: false, audit: false }
  },
  telemetry: { enabled: false },
  diagnostics: { enabled: false, ui: false },
  runtimeState: { enabled: false, ui: false },
  externalModules: { autoInstall: false, palette: { allowInstall: false } },
  editorTheme: { tours: false }
};
