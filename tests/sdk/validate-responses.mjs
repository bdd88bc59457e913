#!/usr/bin/env node
// Contract check: every HTTP response that the black-box tests saw must agree with openapi.yaml.
//
// Usage: node validate-responses.mjs [--spec PATH] [--max-details N] LOG.jsonl [LOG2.jsonl ...]
//
// Each line of a log is one response, as written by the C test library (tests/lib) and by the
// SDK flow (flow.test.mts) when TEST_RESPONSE_LOG is set:
//   {"method":"GET","path":"/assets/demo_alias?returnType=ALL","status":200,
//    "contentType":"application/json","body":{...} | null,
//    "headers":{"x-request-id":"...", ...}}
// - method: the request method as sent; path: the request path and query string as sent
//   (percent-encoded, starting with "/"); status: the HTTP status code;
// - contentType: the response's Content-Type header, or null/absent when there was none;
// - body: the response body parsed as JSON, or null when it was empty or not JSON;
// - headers: every response header, names lowercased (values as strings);
// - optional bodyText: the raw body when it is not empty and not JSON (for the report).
//
// For each line: find the operation (path template + method; fixed segments win over templated
// ones, and a template is only taken for a method it defines), pick the response declared for the
// status (exact code, else 4XX-style range, else `default`), check the Content-Type against the
// declared media types, validate the body with the media type's schema (JSON Schema 2020-12, Ajv),
// check every required declared header (X-Request-Id, Location, WWW-Authenticate, Retry-After)
// is present and valid, and check problem+json bodies for consistency (type = urn:assetd:error:
// + name, status = the HTTP status, code = the code of name). A request to a path or method the
// document does not define must be answered like components/responses/NotFound.
//
// Prints a summary per operation and every mismatch (details for the first --max-details, 50 by
// default); exits 0 when every response agrees, 1 when any does not, 2 on a usage error.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const here = dirname(fileURLToPath(import.meta.url));
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
// The Asset Store Kit error codes by name (openapi.yaml, components/schemas/ErrorName).
const ERROR_CODES = {
  PERMISSION_DENIED: 201,
  INVALID_ARGUMENT: 401,
  SERVICE_UNAVAILABLE: 24000001,
  NOT_FOUND: 24000002,
  DUPLICATED: 24000003,
  ACCESS_DENIED: 24000004,
  STATUS_MISMATCH: 24000005,
  OUT_OF_MEMORY: 24000006,
  DATA_CORRUPTED: 24000007,
  DATABASE_ERROR: 24000008,
  CRYPTO_ERROR: 24000009,
  LIMIT_EXCEEDED: 24000016,
  UNSUPPORTED: 24000017,
  PARAM_VERIFICATION_FAILED: 24000018,
};

function usage(msg) {
  if (msg) console.error(`validate-responses: ${msg}`);
  console.error("usage: node validate-responses.mjs [--spec openapi.yaml] [--max-details N] LOG.jsonl...");
  process.exit(2);
}

// ---- arguments ----
let specPath = resolve(here, "../../openapi.yaml");
let maxDetails = 50;
const logs = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--spec") specPath = argv[++i] ?? usage("--spec needs a path");
  else if (argv[i] === "--max-details") maxDetails = Number(argv[++i] ?? usage("--max-details needs N"));
  else if (argv[i].startsWith("--")) usage(`unknown option ${argv[i]}`);
  else logs.push(argv[i]);
}
if (logs.length === 0) usage("no log file given");
if (!Number.isInteger(maxDetails) || maxDetails < 0) usage("--max-details must be a count");

// ---- the document ----
const doc = parseYaml(readFileSync(specPath, "utf8"));
if (!doc || typeof doc !== "object" || !doc.paths) usage(`${specPath} is not an OpenAPI document`);
const DOC_ID = "https://assetd.invalid/openapi.json";
doc.$id = DOC_ID;

const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
addFormats(ajv);
// OpenAPI's format names that ajv-formats does not know (annotations for integers).
ajv.addFormat("int32", { type: "number", validate: (n) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
ajv.addFormat("int64", { type: "number", validate: (n) => Number.isInteger(n) });
ajv.addSchema(doc);

const escPtr = (s) => String(s).replace(/~/g, "~0").replace(/\//g, "~1");
const ptrOf = (segs) => "/" + segs.map(escPtr).join("/");
function getPtr(ptr) {
  let cur = doc;
  for (const raw of ptr.split("/").slice(1)) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (cur == null || typeof cur !== "object" || !(seg in cur)) throw new Error(`openapi.yaml: no ${ptr}`);
    cur = cur[seg];
  }
  return cur;
}
// Follows $ref of a non-schema object (response, header); returns the object and its pointer.
function deref(obj, ptr) {
  for (let n = 0; obj && typeof obj === "object" && typeof obj.$ref === "string"; n++) {
    if (n > 20 || !obj.$ref.startsWith("#/")) throw new Error(`openapi.yaml: cannot follow $ref ${obj.$ref}`);
    ptr = obj.$ref.slice(1);
    obj = getPtr(ptr);
  }
  return { obj, ptr };
}
const validators = new Map();
function validatorAt(ptr) {
  let v = validators.get(ptr);
  if (!v) {
    const frag = ptr.split("/").map((s) => encodeURIComponent(s)).join("/");
    v = ajv.getSchema(`${DOC_ID}#${frag}`);
    if (!v) throw new Error(`openapi.yaml: no schema at ${ptr}`);
    validators.set(ptr, v);
  }
  return v;
}

// ---- routing ----
const templates = Object.keys(doc.paths).map((t) => ({
  template: t,
  segs: t.split("/").slice(1).map((s) => (/^\{[^}]+\}$/.test(s) ? null : s)),
}));
// Fixed segments before templated ones, segment by segment from the left.
templates.sort((a, b) => {
  for (let i = 0; i < Math.min(a.segs.length, b.segs.length); i++) {
    const la = a.segs[i] !== null, lb = b.segs[i] !== null;
    if (la !== lb) return la ? -1 : 1;
  }
  return 0;
});
function decodeSeg(s) {
  try { return decodeURIComponent(s); } catch { return s; }
}
function route(method, rawPath) {
  const path = rawPath.split("?")[0].split("#")[0];
  if (!path.startsWith("/")) return null;
  const segs = path.split("/").slice(1).map(decodeSeg);
  for (const t of templates) {
    if (t.segs.length !== segs.length) continue;
    if (!t.segs.every((lit, i) => (lit === null ? segs[i].length > 0 : lit === segs[i]))) continue;
    const m = method.toLowerCase();
    if (!METHODS.includes(m) || !doc.paths[t.template][m]) continue;
    const op = doc.paths[t.template][m];
    return { template: t.template, method: m, op, ptr: ptrOf(["paths", t.template, m]) };
  }
  return null;
}

// ---- checks ----
function fmtAjv(errors, whole = "(body)") {
  const all = errors || [];
  const out = all.slice(0, 8).map((e) => {
    const params = e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : "";
    return `${e.instancePath || whole} ${e.message}${params} [${e.schemaPath}]`;
  });
  if (all.length > 8) out.push(`… and ${all.length - 8} more schema error(s)`);
  return out;
}
function mediaMatches(declared, actual) {
  if (declared === actual || declared === "*/*") return true;
  if (declared.endsWith("/*")) return actual.startsWith(declared.slice(0, -1));
  return false;
}
const isJsonMedia = (m) => m === "application/json" || m.endsWith("+json");

function pickResponse(responses, status) {
  const code = String(status);
  if (responses[code]) return code;
  const range = `${code[0]}XX`;
  if (responses[range]) return range;
  if (responses[range.toLowerCase()]) return range.toLowerCase();
  if (responses.default) return "default";
  return null;
}

function checkLine(entry) {
  const problems = [];
  const r = route(entry.method, entry.path);
  let opName, respPtr, resp, key;
  if (r) {
    opName = r.op.operationId || `${r.method.toUpperCase()} ${r.template}`;
    key = pickResponse(r.op.responses || {}, entry.status);
    if (!key) {
      const declared = Object.keys(r.op.responses || {}).join(", ");
      problems.push(`status ${entry.status} is not declared for ${opName} (declared: ${declared})`);
      return { opName, problems };
    }
    ({ obj: resp, ptr: respPtr } = deref(r.op.responses[key], `${r.ptr}/responses/${escPtr(key)}`));
  } else {
    // A path or method that the document does not define is 404 NOT_FOUND.
    opName = "(undefined route)";
    ({ obj: resp, ptr: respPtr } = deref({ $ref: "#/components/responses/NotFound" }, ""));
    if (entry.status !== 404) {
      problems.push(`${entry.method} ${entry.path.split("?")[0]} matches no operation of openapi.yaml, so it must be 404 NOT_FOUND, got ${entry.status}`);
      return { opName, problems };
    }
  }

  // Headers.
  const hdrs = entry.headers && typeof entry.headers === "object" ? entry.headers : null;
  const lower = {};
  if (hdrs) for (const [k, v] of Object.entries(hdrs)) lower[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
  for (const [name, h0] of Object.entries(resp.headers || {})) {
    const { obj: h, ptr: hPtr } = deref(h0, `${respPtr}/headers/${escPtr(name)}`);
    if (name.toLowerCase() === "content-type") continue;
    const value = lower[name.toLowerCase()];
    if (value === undefined || value === null) {
      if (h.required) problems.push(hdrs ? `required header ${name} is missing` : `required header ${name}: the log line has no "headers"`);
      continue;
    }
    if (h.schema) {
      const v = validatorAt(`${hPtr}/schema`);
      let val = value;
      if (typeof val === "string" && /^-?[0-9]+$/.test(val.trim()) && (h.schema.type === "integer" || h.schema.type === "number")) val = Number(val.trim());
      if (!v(val)) problems.push(`header ${name}: ${JSON.stringify(value)} does not match its schema: ${fmtAjv(v.errors, "(value)").join("; ")}`);
    }
  }

  // Content type and body.
  const declared = Object.keys(resp.content || {});
  const ct = typeof entry.contentType === "string" ? entry.contentType.split(";")[0].trim().toLowerCase() : "";
  const hasBody = entry.body !== null && entry.body !== undefined;
  if (declared.length === 0) {
    if (hasBody || (typeof entry.bodyText === "string" && entry.bodyText.length > 0)) problems.push(`status ${entry.status} declares no body, but one was sent (${ct || "no Content-Type"})`);
    return { opName, problems, key };
  }
  const media = declared.find((d) => mediaMatches(d.toLowerCase(), ct));
  if (!media) {
    problems.push(`Content-Type ${JSON.stringify(entry.contentType ?? null)} is not one of the declared ${declared.join(", ")}`);
    return { opName, problems, key };
  }
  const mt = resp.content[media];
  if (isJsonMedia(media.toLowerCase())) {
    if (!hasBody) {
      problems.push(typeof entry.bodyText === "string" ? `body is not JSON: ${JSON.stringify(entry.bodyText.slice(0, 200))}` : "body is empty or not JSON (null in the log)");
      return { opName, problems, key };
    }
    if (mt.schema) {
      const v = validatorAt(`${respPtr}/content/${escPtr(media)}/schema`);
      if (!v(entry.body)) problems.push(...fmtAjv(v.errors).map((e) => `body: ${e}`));
    }
    if (media.toLowerCase() === "application/problem+json" && entry.body && typeof entry.body === "object") {
      const b = entry.body;
      if (b.status !== entry.status) problems.push(`problem: status ${JSON.stringify(b.status)} differs from the HTTP status ${entry.status}`);
      if (typeof b.name === "string") {
        if (b.type !== `urn:assetd:error:${b.name}`) problems.push(`problem: type ${JSON.stringify(b.type)} is not urn:assetd:error:${b.name}`);
        if (b.name in ERROR_CODES && b.code !== ERROR_CODES[b.name]) problems.push(`problem: code ${JSON.stringify(b.code)} is not ${ERROR_CODES[b.name]}, the code of ${b.name}`);
      }
    }
  } else if (mt.schema && hasBody) {
    // A non-JSON media type (text/plain): the log holds a body only when it happened to parse as JSON.
    const v = validatorAt(`${respPtr}/content/${escPtr(media)}/schema`);
    const val = typeof entry.bodyText === "string" ? entry.bodyText : entry.body;
    if (!v(val)) problems.push(...fmtAjv(v.errors).map((e) => `body: ${e}`));
  }
  return { opName, problems, key };
}

// ---- main ----
const perOp = new Map(); // opName -> { method, template, n, statuses: Map, bad }
const mismatches = [];
let total = 0;
for (const file of logs) {
  let text;
  try { text = readFileSync(file, "utf8"); } catch (e) { usage(`cannot read ${file}: ${e.message}`); }
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    total++;
    const where = `${file}:${i + 1}`;
    let entry;
    try { entry = JSON.parse(line); } catch (e) {
      mismatches.push({ where, head: "(unreadable log line)", problems: [`not JSON: ${e.message}`], line });
      continue;
    }
    const shapeErr = [];
    if (typeof entry.method !== "string" || !entry.method) shapeErr.push("method is not a string");
    if (typeof entry.path !== "string" || !entry.path.startsWith("/")) shapeErr.push("path is not a string starting with /");
    if (!Number.isInteger(entry.status)) shapeErr.push("status is not an integer");
    if (shapeErr.length) {
      mismatches.push({ where, head: "(malformed log line)", problems: shapeErr, line });
      continue;
    }
    let res;
    try { res = checkLine(entry); } catch (e) {
      res = { opName: "(validator error)", problems: [String(e && e.stack || e)] };
    }
    const r = route(entry.method, entry.path);
    const opKey = res.opName;
    let s = perOp.get(opKey);
    if (!s) {
      s = { label: r ? `${r.method.toUpperCase()} ${r.template}` : "", n: 0, statuses: new Map(), bad: 0 };
      perOp.set(opKey, s);
    }
    s.n++;
    s.statuses.set(entry.status, (s.statuses.get(entry.status) || 0) + 1);
    if (res.problems.length) {
      s.bad++;
      mismatches.push({
        where,
        head: `${entry.method} ${entry.path} -> ${entry.status} (${res.opName}${res.key ? `, response ${res.key}` : ""})`,
        problems: res.problems,
        body: entry.body ?? entry.bodyText ?? null,
        contentType: entry.contentType ?? null,
      });
    }
  }
}

console.log(`contract: ${total} response(s) from ${logs.join(", ")} checked against ${specPath}`);
const allOps = [];
for (const [t, item] of Object.entries(doc.paths))
  for (const m of METHODS) if (item[m]) allOps.push(item[m].operationId || `${m.toUpperCase()} ${t}`);
const rows = [...perOp.entries()].sort((a, b) => a[0].localeCompare(b[0]));
const w = Math.max(10, ...rows.map(([k]) => k.length));
const w2 = Math.max(10, ...rows.map(([, s]) => s.label.length));
for (const [k, s] of rows) {
  const st = [...s.statuses.entries()].sort((a, b) => a[0] - b[0]).map(([c, n]) => `${c}x${n}`).join(" ");
  console.log(`  ${s.bad ? "FAIL" : "ok  "} ${k.padEnd(w)} ${s.label.padEnd(w2)} ${String(s.n).padStart(5)} response(s)  ${st}${s.bad ? `  ${s.bad} mismatch(es)` : ""}`);
}
const unseen = allOps.filter((o) => !perOp.has(o));
console.log(`  operations exercised: ${allOps.length - unseen.length} of ${allOps.length}${unseen.length ? ` (not seen: ${unseen.join(", ")})` : ""}`);

if (mismatches.length) {
  console.log(`\ncontract: ${mismatches.length} response(s) do not match openapi.yaml${mismatches.length > maxDetails ? ` (details for the first ${maxDetails})` : ""}:`);
  mismatches.forEach((m, i) => {
    if (i < maxDetails) {
      console.log(`\n  [${i + 1}] ${m.where}  ${m.head}`);
      for (const p of m.problems) console.log(`      - ${p}`);
      if (m.line !== undefined) console.log(`      line: ${m.line.slice(0, 300)}`);
      else {
        const body = JSON.stringify(m.body);
        console.log(`      Content-Type: ${m.contentType}; body: ${body === undefined ? "null" : body.length > 400 ? body.slice(0, 400) + "…" : body}`);
      }
    } else {
      console.log(`  [${i + 1}] ${m.where}  ${m.head}`);
    }
  });
}
console.log(`\ncontract: ${total - mismatches.length} passed, ${mismatches.length} failed`);
if (total === 0) {
  console.log("contract: the log is empty: nothing was checked");
  process.exit(1);
}
process.exit(mismatches.length ? 1 : 0);
