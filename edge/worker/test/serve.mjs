// Runs the Worker in workerd (through Miniflare) on 127.0.0.1 for tests and benchmarks.
//
// Its R2 bucket BUILD is reachable two ways: by the Worker, and by a tiny
// S3-compatible endpoint started here (PutObject, DeleteObject, ListObjectsV2,
// HeadBucket; path-style, no authentication) that writes straight into that
// same R2 bucket. `paylink publish` pointed at it (publish_endpoint) fills
// the bucket through its own code path, and a delete is visible to the next request.
//
//   node test/serve.mjs --keys 'k1,k2' [--prefix shop] [--bucket paylink-test]
// prints one JSON line {"worker": URL, "s3": URL} when ready; stops on SIGTERM or stdin EOF.
import { createHash } from "node:crypto";
import http from "node:http";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

const { values } = parseArgs({
  options: {
    keys: { type: "string", default: "" },
    prefix: { type: "string", default: "" },
    bucket: { type: "string", default: "paylink-test" },
  },
});

const mf = new Miniflare({
  modules: true,
  scriptPath: fileURLToPath(new URL("../src/index.js", import.meta.url)),
  compatibilityDate: "2026-04-01",
  r2Buckets: ["BUILD"],
  bindings: { PREFIX: values.prefix, PAYLINK_SECRET_KEY: values.keys },
  host: "127.0.0.1",
  port: 0,
});
const workerUrl = await mf.ready;
const bucket = await mf.getR2Bucket("BUILD");

function xml(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function send(res, status, body = "", headers = {}) {
  res.writeHead(status, { "Content-Type": "application/xml", ...headers });
  res.end(body);
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function handle(req, res) {
  const url = new URL(req.url, "http://localhost");
  const [, bucketName, ...rest] = url.pathname.split("/");
  const key = decodeURIComponent(rest.join("/"));
  if (bucketName !== values.bucket) {
    return send(res, 404, "<Error><Code>NoSuchBucket</Code><Message>no such bucket</Message></Error>");
  }
  if (!key) {
    if (req.method === "HEAD" || req.method === "PUT") return send(res, 200); // the bucket exists: it is the binding
    if (req.method === "GET") return list(url, res);
    return send(res, 405, "<Error><Code>MethodNotAllowed</Code><Message>bucket</Message></Error>");
  }
  if (req.method === "PUT") {
    const body = await readBody(req);
    const md5 = createHash("md5").update(body).digest("hex");
    // A plain ArrayBuffer: Miniflare's proxy refuses Node's pooled Buffers.
    const bytes = body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength);
    await bucket.put(key, bytes, {
      httpMetadata: { contentType: req.headers["content-type"], cacheControl: req.headers["cache-control"] },
    });
    return send(res, 200, "", { ETag: `"${md5}"` });
  }
  if (req.method === "DELETE") {
    await bucket.delete(key);
    return send(res, 204);
  }
  if (req.method === "GET" || req.method === "HEAD") {
    const object = await bucket.get(key);
    if (object === null) return send(res, 404, "<Error><Code>NoSuchKey</Code><Message>no such key</Message></Error>");
    const body = Buffer.from(await object.arrayBuffer());
    res.writeHead(200, {
      "Content-Type": object.httpMetadata.contentType || "application/octet-stream",
      "Cache-Control": object.httpMetadata.cacheControl || "",
      ETag: `"${createHash("md5").update(body).digest("hex")}"`,
      "Content-Length": body.length,
    });
    return res.end(req.method === "HEAD" ? undefined : body);
  }
  return send(res, 405, "<Error><Code>MethodNotAllowed</Code><Message>object</Message></Error>");
}

async function list(url, res) {
  const options = { prefix: url.searchParams.get("prefix") || undefined, limit: 1000 };
  const cursor = url.searchParams.get("continuation-token");
  if (cursor) options.cursor = cursor;
  const listed = await bucket.list(options);
  const contents = [];
  for (const object of listed.objects) {
    const body = Buffer.from(await (await bucket.get(object.key)).arrayBuffer());
    const md5 = createHash("md5").update(body).digest("hex");
    contents.push(
      `<Contents><Key>${xml(object.key)}</Key><ETag>"${md5}"</ETag><Size>${object.size}</Size>` +
        `<LastModified>${object.uploaded.toISOString()}</LastModified><StorageClass>STANDARD</StorageClass></Contents>`,
    );
  }
  const truncated = listed.truncated ? "true" : "false";
  const next = listed.truncated ? `<NextContinuationToken>${xml(listed.cursor)}</NextContinuationToken>` : "";
  send(
    res,
    200,
    `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
      `<Name>${xml(values.bucket)}</Name><Prefix>${xml(options.prefix || "")}</Prefix>` +
      `<KeyCount>${contents.length}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>${truncated}</IsTruncated>` +
      `${next}${contents.join("")}</ListBucketResult>`,
  );
}

const s3 = http.createServer((req, res) => {
  handle(req, res).catch((error) => {
    console.error(error);
    send(res, 500, `<Error><Code>InternalError</Code><Message>${xml(error)}</Message></Error>`);
  });
});
await new Promise((resolve) => s3.listen(0, "127.0.0.1", resolve));

console.log(JSON.stringify({ worker: workerUrl.href.replace(/\/$/, ""), s3: `http://127.0.0.1:${s3.address().port}` }));

async function stop() {
  s3.close();
  await mf.dispose();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.resume();
