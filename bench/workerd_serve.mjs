// Serves one Worker in workerd (through Miniflare, from edge/worker/node_modules) until SIGTERM.
//
//   node bench/workerd_serve.mjs CONFIG.json
//
// CONFIG: {"mode": "worker", "port", "worker_dir", "bindings": {...}, "files": [{"key", "path",
// "contentType", "cacheControl"}]}: paylink's Worker (its main module and compatibility settings
// read from wrangler.toml / wrangler.json / package.json), with an R2 bucket bound as BUILD that
// holds `files`, as `paylink publish` would have uploaded them;
// or {"mode": "constant", "port", "worker_dir", "headers": [[name, value], ...], "body_bytes"}:
// a Worker that answers every request with that constant response, its peer.
// Prints "ready" once the port answers.

import { readFileSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const workerDir = resolve(config.worker_dir);
const require = createRequire(join(workerDir, "package.json"));
const { Miniflare } = require("miniflare");

function workerSettings(dir) {
  const settings = { main: null, compatibilityDate: "2024-09-23", compatibilityFlags: [] };
  const toml = join(dir, "wrangler.toml");
  if (existsSync(toml)) {
    const text = readFileSync(toml, "utf8").split(/^\[/m)[0]; // top-level keys only
    const main = text.match(/^main\s*=\s*"([^"]+)"/m);
    const date = text.match(/^compatibility_date\s*=\s*"([^"]+)"/m);
    const flags = text.match(/^compatibility_flags\s*=\s*\[([^\]]*)\]/m);
    if (main) settings.main = main[1];
    if (date) settings.compatibilityDate = date[1];
    if (flags) settings.compatibilityFlags = [...flags[1].matchAll(/"([^"]+)"/g)].map((m) => m[1]);
  }
  for (const name of ["wrangler.json", "wrangler.jsonc"]) {
    const file = join(dir, name);
    if (!existsSync(file)) continue;
    const json = JSON.parse(readFileSync(file, "utf8").replace(/^\s*\/\/.*$/gm, ""));
    settings.main = json.main ?? settings.main;
    settings.compatibilityDate = json.compatibility_date ?? settings.compatibilityDate;
    settings.compatibilityFlags = json.compatibility_flags ?? settings.compatibilityFlags;
  }
  if (!settings.main) {
    settings.main = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).main ?? "src/index.js";
  }
  return settings;
}

let options;
if (config.mode === "worker") {
  const settings = workerSettings(workerDir);
  options = {
    modules: true,
    scriptPath: resolve(workerDir, settings.main),
    modulesRoot: workerDir, // module names relative to the Worker's folder, wherever the bench runs
    compatibilityDate: settings.compatibilityDate,
    compatibilityFlags: settings.compatibilityFlags,
    bindings: config.bindings,
    r2Buckets: ["BUILD"],
  };
} else {
  const body = "x".repeat(config.body_bytes);
  options = {
    modules: true,
    script: `const HEADERS = ${JSON.stringify(config.headers)};
const BODY = ${JSON.stringify(body)};
export default { async fetch() { return new Response(BODY, { status: 200, headers: HEADERS }); } };`,
    compatibilityDate: "2024-09-23",
  };
}

// logRequests off: Miniflare would call back into Node to log every request, which is no part of workerd.
const mf = new Miniflare({ ...options, host: "127.0.0.1", port: config.port, logRequests: false });
await mf.ready;
if (config.mode === "worker") {
  const bucket = await mf.getR2Bucket("BUILD");
  for (const file of config.files) {
    const bytes = readFileSync(file.path); // an ArrayBuffer of its own: Miniflare's proxy refuses a pooled Buffer
    await bucket.put(file.key, bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), {
      httpMetadata: { contentType: file.contentType, cacheControl: file.cacheControl },
    });
  }
}
console.log("ready");

async function stop() {
  await mf.dispose();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
