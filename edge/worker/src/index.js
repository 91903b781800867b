// paylink's edge as a Cloudflare Worker: turns a signed link into its snapshot, read from R2.
//
// The same answers as the Python edge (edge/app.py), row for row of CONTRACT §6:
// statuses, headers and bodies. It reads what `paylink publish` uploaded to the
// R2 bucket bound as BUILD, under the key prefix in the PREFIX variable (empty:
// the bucket's root), and verifies tokens with the keys in the secret
// PAYLINK_SECRET_KEY (newline- or comma-separated, newest last).
//
// Tokens are itsdangerous signatures (key_derivation "hmac", SHA-256, salt
// "paylink.link"): derived = HMAC(key, salt); token = nonce "." base64url(HMAC(derived, nonce)).
// crypto.subtle.verify compares in constant time. The 404 and 410 pages are chosen
// by Accept-Language exactly as layout.preferred_language chooses. Names, headers and
// patterns repeat generator/layout.py and generator/tokens.py; tests/test_worker.py
// evaluates these constants and checks they equal layout's, and tests/vectors/ holds
// the cases both edges pass.

const LINK_SALT = "paylink.link";
const SNAPSHOT_DIR = "p";
const ASSETS_DIR = "assets";
const NOT_FOUND_PAGE = "404.html";
const GONE_PAGE = "410.html";
const ROBOTS = "robots.txt";
const LINK_PREFIX = "/p/";
const LANGUAGES = ["en", "es"];
const ERROR_VARY = ["Vary", "Accept-Language"];
// One entry of Accept-Language: a language range and its optional q-value.
const LANGUAGE_RANGE_RE =
  /^[ \t]*([A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*|\*)[ \t]*(?:;[ \t]*[qQ][ \t]*=[ \t]*([01](?:\.[0-9]{0,3})?))?[ \t]*$/;
const MAX_LANGUAGE_RANGES = 64;

// Only the canonical base64url spelling: one link has exactly one URL.
const TOKEN_RE = /^[A-Za-z0-9_-]{21}[AQgw]\.[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;
const ASSET_NAME_RE = /^[a-z0-9-]+\.[0-9a-f]{16}\.(css|js|svg)$/;
// No allowlisted URL needs any of these in its raw (undecoded) form.
const HOSTILE_RAW_RE = /%(?:2f|5c|00|2e)|\\|\/\/|\.\./i;
const MAX_PATH_LENGTH = 16384;

const CONTENT_TYPES = {
  html: "text/html; charset=utf-8",
  txt: "text/plain; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  svg: "image/svg+xml",
};
const NO_STORE = "no-store";
const IMMUTABLE = "public, max-age=31536000, immutable";
const CSP =
  "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; " +
  "form-action 'none'; base-uri 'none'; frame-ancestors 'none'";
const SECURITY_HEADERS = [
  ["Referrer-Policy", "no-referrer"],
  ["X-Robots-Tag", "noindex"],
  ["X-Content-Type-Options", "nosniff"],
  ["Content-Security-Policy", CSP],
  ["X-Frame-Options", "DENY"],
  ["Cross-Origin-Opener-Policy", "same-origin"],
  ["Cross-Origin-Resource-Policy", "same-origin"],
];

const encoder = new TextEncoder();
// Used only when the bucket lacks the builder's own pages: byte for byte edge/app.py's.
const FALLBACK_404 = encoder.encode(
  '<!doctype html><html lang="en"><meta charset="utf-8"><title>Not found</title>' +
    "<h1>Not found</h1><p>There is no page at this address.</p></html>\n",
);
const FALLBACK_410 = encoder.encode(
  '<!doctype html><html lang="en"><meta charset="utf-8"><title>Link no longer works</title>' +
    "<h1>This link no longer works</h1><p>Please contact the business for a new link.</p></html>\n",
);
const FALLBACK_ROBOTS = encoder.encode("User-agent: *\nDisallow: /\n");

export default {
  async fetch(request, env) {
    const method = request.method;
    let answer;
    try {
      // As paylink.edge.app's EnvConfiguredApplication: without its bucket or a key, every request is a 500.
      if (!env.BUILD || !String(env.PAYLINK_SECRET_KEY || "").replace(/[\s,]/g, "")) {
        console.error("paylink edge: not configured: bind the R2 bucket as BUILD and set the secret PAYLINK_SECRET_KEY");
        answer = page(500, encoder.encode("Edge not configured\n"), "txt");
      } else {
        answer = await respond(request, env);
      }
    } catch (error) {
      console.error("paylink edge: error serving a request:", error && error.stack ? error.stack : error);
      answer = page(500, encoder.encode("Internal error\n"), "txt");
    }
    const [status, body, headers] = answer;
    const response = new Headers([["Content-Length", String(body.byteLength)], ...headers, ...SECURITY_HEADERS]);
    return new Response(method === "HEAD" ? null : body, { status, headers: response });
  },
};

/** [status, body bytes, headers] for a request; the order of checks is edge/app.py's. */
async function respond(request, env) {
  if (request.method !== "GET" && request.method !== "HEAD") {
    const [status, body, headers] = page(405, encoder.encode("Method not allowed\n"), "txt");
    return [status, body, [["Allow", "GET, HEAD"], ...headers]];
  }
  if (request.headers.has("transfer-encoding")) {
    return page(400, encoder.encode("Bad request\n"), "txt");
  }
  const raw = rawPath(request.url);
  const path = percentDecode(raw);
  if (path.length > MAX_PATH_LENGTH) {
    return page(414, encoder.encode("URI too long\n"), "txt");
  }
  const store = new Store(env);
  if (HOSTILE_RAW_RE.test(raw)) {
    return errorPage(store, 404, request);
  }
  if (path.startsWith(LINK_PREFIX)) {
    return linkPage(store, keysOf(env), path.slice(LINK_PREFIX.length), request);
  }
  if (path.startsWith(`/${ASSETS_DIR}/`)) {
    const name = path.slice(ASSETS_DIR.length + 2);
    const match = ASSET_NAME_RE.exec(name);
    if (match) {
      const body = await store.read(`${ASSETS_DIR}/${name}`);
      if (body === null) return errorPage(store, 404, request);
      return [200, body, [["Content-Type", CONTENT_TYPES[match[1]]], ["Cache-Control", IMMUTABLE]]];
    }
    return errorPage(store, 404, request);
  }
  if (path === `/${ROBOTS}`) {
    const body = await store.read(ROBOTS);
    return page(200, body === null ? FALLBACK_ROBOTS : body, "txt");
  }
  return errorPage(store, 404, request);
}

/** 200 with a live link's snapshot, 410 for a rotated or revoked one, 404 for anything not ours. */
async function linkPage(store, keys, token, request) {
  const nonce = await verify(keys, token);
  if (nonce === null) return errorPage(store, 404, request);
  const snapshot = await store.read(`${SNAPSHOT_DIR}/${await snapshotName(nonce)}`);
  if (snapshot === null) return errorPage(store, 410, request);
  return page(200, snapshot, "html");
}

/** The 404 or 410 page in the language the request prefers, else in the site's, else the built-in one. */
async function errorPage(store, status, request) {
  const sitePage = status === 404 ? NOT_FOUND_PAGE : GONE_PAGE;
  const language = preferredLanguage(request.headers.get("accept-language"));
  let body = language === null ? null : await store.read(errorPageName(sitePage, language));
  if (body === null) body = await store.read(sitePage);
  if (body === null) body = status === 404 ? FALLBACK_404 : FALLBACK_410;
  const [, , headers] = page(status, body, "html");
  return [status, body, [...headers, ERROR_VARY]];
}

/** layout.error_page_name: "404.html" in Spanish is "404.es.html". */
function errorPageName(name, language) {
  const dot = name.lastIndexOf(".");
  return `${name.slice(0, dot)}.${language}${name.slice(dot)}`;
}

/** layout.preferred_language: the language of LANGUAGES the header prefers, or null (the site's own). */
function preferredLanguage(header) {
  if (!header) return null;
  let best = null;
  let bestQ = 0;
  for (const entry of header.split(",").slice(0, MAX_LANGUAGE_RANGES)) {
    const match = LANGUAGE_RANGE_RE.exec(entry);
    if (match === null) continue;
    const [, tag, q] = match;
    // q in thousandths, as an integer: "0.5" is 500.
    const quality = q === undefined ? 1000 : Number(q[0]) * 1000 + Number((q.slice(2) + "000").slice(0, 3));
    if (quality > 1000 || quality <= bestQ) continue;
    const primary = tag.replace(/_/g, "-").split("-")[0].toLowerCase();
    if (LANGUAGES.includes(primary)) {
      best = primary;
      bestQ = quality;
    } else if (primary === "*") {
      best = null;
      bestQ = quality;
    }
  }
  return best;
}

function page(status, body, kind) {
  return [status, body, [["Content-Type", CONTENT_TYPES[kind]], ["Cache-Control", NO_STORE]]];
}

/** The request target's path as sent (before any decoding), without the query. */
function rawPath(url) {
  const afterScheme = url.indexOf("://");
  const start = url.indexOf("/", afterScheme < 0 ? 0 : afterScheme + 3);
  if (start < 0) return "/";
  let end = url.length;
  for (const stop of ["?", "#"]) {
    const at = url.indexOf(stop, start);
    if (at >= 0 && at < end) end = at;
  }
  return url.slice(start, end);
}

/** Percent-decode to one character per byte (latin-1), as a WSGI server fills PATH_INFO. */
function percentDecode(text) {
  return text.replace(/%([0-9A-Fa-f]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
}

class Store {
  constructor(env) {
    this.bucket = env.BUILD;
    const prefix = String(env.PREFIX || "").replace(/^\/+|\/+$/g, "");
    this.prefix = prefix ? `${prefix}/` : "";
  }

  /** The bytes of a file of build/ (a name of ours, never request text), or null. */
  async read(name) {
    const object = await this.bucket.get(this.prefix + name);
    return object === null ? null : new Uint8Array(await object.arrayBuffer());
  }
}

// --- tokens ---------------------------------------------------------------------

const derivedKeys = new Map(); // secret text -> CryptoKey list, per isolate

function keysOf(env) {
  const text = String(env.PAYLINK_SECRET_KEY || "");
  let keys = derivedKeys.get(text);
  if (keys === undefined) {
    const secrets = text
      .split(/[,\n]/)
      .map((key) => key.trim())
      .filter((key) => key);
    keys = Promise.all(secrets.reverse().map(deriveKey)); // newest first, as itsdangerous tries them
    derivedKeys.clear();
    derivedKeys.set(text, keys);
  }
  return keys;
}

async function hmacKey(raw, usages) {
  return crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, usages);
}

/** itsdangerous' key_derivation="hmac": HMAC-SHA256(secret, salt) is the signing key. */
async function deriveKey(secret) {
  const derived = await crypto.subtle.sign("HMAC", await hmacKey(encoder.encode(secret), ["sign"]), encoder.encode(LINK_SALT));
  return hmacKey(derived, ["verify"]);
}

/** The link's nonce if the token is ours (any key), else null. */
async function verify(keysPromise, token) {
  if (!TOKEN_RE.test(token)) return null;
  const keys = await keysPromise;
  const dot = token.indexOf(".");
  const nonce = token.slice(0, dot);
  const signature = base64urlDecode(token.slice(dot + 1));
  const data = encoder.encode(nonce);
  for (const key of keys) {
    if (await crypto.subtle.verify("HMAC", key, signature, data)) return nonce;
  }
  return null;
}

function base64urlDecode(text) {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** layout.snapshot_name: the first 32 hex digits of SHA-256("paylink.snapshot\0" + nonce), ".html". */
async function snapshotName(nonce) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(`paylink.snapshot\0${nonce}`)));
  let hex = "";
  for (const byte of digest.subarray(0, 16)) hex += byte.toString(16).padStart(2, "0");
  return `${hex}.html`;
}
