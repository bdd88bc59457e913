// Routing check of the statement catalog, for the Citus plan of deploy/README.md ("Beyond one
// PostgreSQL"): every hot-path statement must be routable to one shard by device, i.e. every
// distributed table it touches is pinned by its distribution column (device_id; devices.id) to
// one and the same parameter, or joined to such a table on it, or (INSERT) given the column.
// Reference tables (replicated to every node) need nothing.
//
// The catalog is every `static const db_stmt` of service/ (the named statements: each
// request's hot path), read from the C preprocessor's output so that macros (column lists,
// AUDITED(...)) are expanded exactly as compiled, plus the WHERE of store.c's query builder
// (lists and bulk deletes), and the one-off db_exec() / db_run_sql() statements of the files of
// ONE_OFF_FILES.
// Statements that are multi-shard by design are listed below with the
// reason and the plan; a listed name that no longer exists fails the check (stale list).
// Usage: node tests/citus/routing.mjs [--self-test-only]     (run.d/65-citus-routing.sh)
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

// Distribution columns (distributed tables) and reference tables of the plan.
const DIST = {
  devices: "id", device_keys: "device_id", installations: "device_id", assets: "device_id",
  sync_results: "device_id", audit_log: "device_id", backups: "device_id",
  backup_records: "device_id", challenges: "device_id", restores: "target_device_id",
  restore_chunks: "target_device_id", restore_owner_counts: "target_device_id",
};
const REFERENCE = new Set(["service_keys", "schema_migrations"]);

// Session-local temporary tables (a restore's staging table): live where the session runs.
const LOCAL = new Set(["restore_stage"]);

// Multi-shard (or not shard-routed) by design: statement name, or "sql:" + the beginning of a
// one-off statement -> why, and what Citus needs.
const MULTI_SHARD = {
  "sql:SELECT pg_advisory_xact_lock(hashtextextended(":
    "the per-store lock of the max-assets check (ASSETD_MAX_ASSETS, off by default) is a " +
    "node-local advisory lock. Plan: lock the scope's row instead (SELECT ... FROM devices " +
    "WHERE id = $1 FOR UPDATE), which Citus routes to the device's shard.",
  "sql:SELECT id, (extract(epoch FROM at)":
    "GET /audit (admin) pages through every device's events in id order: a multi-shard query " +
    "merged by id on the coordinator; admin only, never on a device's request path.",
  group_hold: "holds the installations of a group commit of adds (service/asset_add.h), whose " +
    "callers may be on several devices; its rows (group_insert) carry each one's device_id, " +
    "which Citus routes row by row (INSERT ... SELECT repartitioned by the distribution column). " +
    "Plan: group adds per device (one group per device id, each single-shard), or " +
    "ASSETD_GROUP_COMMIT_MAX=1, which writes each add alone with installation_hold.",
  group_get: "looks up the reads by alias of a group read (service/asset_get.h), whose " +
    "callers may be on several devices, and checks each one's principal. Plan: group reads " +
    "per device (the reads of one device id together, each single-shard), or " +
    "ASSETD_GROUP_READ_MAX=1, which reads each alone with asset_get_current.",
  group_delete: "removes the assets of a group remove (service/asset_remove.h), whose callers " +
    "may be on several devices. Plan: group removes per device (each single-shard), or " +
    "ASSETD_GROUP_COMMIT_MAX=1, which removes each alone by its alias key.",
  group_lock: "locks the assets of a group update (service/asset_update.h), whose callers may " +
    "be on several devices; group_update writes them. Plan: group updates per device (each " +
    "single-shard), or ASSETD_GROUP_COMMIT_MAX=1, which updates each alone.",
  group_update: "writes the assets of a group update (see group_lock), rows of several " +
    "devices. Plan: as group_lock's.",
  auth: "finds the principal of a bearer token by its hash, before any device is known. Plan: " +
    "a lookup table auth_tokens(token_hash, device_id, installation_id) distributed by " +
    "token_hash (one shard), then the device's rows by device_id (another single-shard query).",
};

// Files whose one-off db_exec() statements (string literals) are hot path too: the asset
// operations and their audit records. (Backups, restores and user-auth challenges are not hot
// path; deploy/README.md says what changes for them.)
const ONE_OFF_FILES = new Set(["service/asset_ops.c", "service/audit.c", "service/store/store.c",
  "service/store/store_audit.c"]);

const KEYWORDS = new Set(["where", "on", "set", "values", "select", "join", "left", "inner", "using",
  "returning", "group", "order", "limit", "offset", "union", "and", "or", "not", "default", "do",
  "as", "for", "having", "window", "cross", "natural", "full", "right", "lateral"]);

// The statements of one C file, macros expanded: [{name, sql}].
function statementsOf(file, cflags) {
  const pre = execFileSync("cc", ["-E", "-P", "-std=c11", "-D_GNU_SOURCE", ...cflags, file],
    { encoding: "utf8", maxBuffer: 64 << 20 });
  const out = [];
  const re = /static\s+const\s+db_stmt\s+\w+\s*=\s*\{\s*\w+\s*,\s*"([^"]+)"\s*,((?:\s*"(?:[^"\\]|\\.)*")+)\s*\}\s*;/g;
  for (let m; (m = re.exec(pre));) {
    const sql = [...m[2].matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((x) => JSON.parse(`"${x[1]}"`)).join("");
    out.push({ name: m[1], sql, file });
  }
  if (ONE_OFF_FILES.has(file)) {
    let k = 0;
    const one = /\b(?:db_exec|db_run_sql)\(\s*[\w>.-]+\s*,((?:\s*"(?:[^"\\]|\\.)*")+)\s*,/g;
    for (let m; (m = one.exec(pre));) {
      const sql = [...m[1].matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((x) => JSON.parse(`"${x[1]}"`)).join("");
      out.push({ name: `${file.replace(/^service\//, "")}#${++k}`, sql, file });
    }
  }
  return out;
}

// Why a statement is not single-shard by device ("" when it is).
export function routingProblem(sql) {
  // extract(epoch FROM x) is no table reference.
  const s = sql.replace(/\s+/g, " ").replace(/\bextract\s*\(\s*\w+\s+FROM\b/gi, "extract(");
  const ctes = new Set([...s.matchAll(/(?:\bWITH|,)\s*([a-z_]\w*)\s+AS\s*\(/gi)].map((m) => m[1].toLowerCase()));
  const refs = []; // {table, alias, insert}
  for (const m of s.matchAll(/\b(FROM|JOIN|INTO|UPDATE)\s+([a-z_]\w*)(\s*\()?(?:\s+(?:AS\s+)?([a-z_]\w*))?/gi)) {
    const table = m[2].toLowerCase();
    if (m[3] && m[1].toUpperCase() !== "INTO") continue; // a function: FROM unnest(...)
    if (ctes.has(table) || KEYWORDS.has(table)) continue;
    let alias = m[4] ? m[4].toLowerCase() : "";
    if (KEYWORDS.has(alias)) alias = "";
    refs.push({ table, alias, insert: m[1].toUpperCase() === "INTO" });
  }
  if (/^\s*CREATE TEMP(ORARY)? TABLE/i.test(s)) return ""; // session-local
  if (/^\s*SET\s+\w+\s+TO\b/i.test(s)) return ""; // a session setting
  if (refs.length === 0) return "touches no table (not a catalog statement?)";
  const params = new Set();
  const pinned = new Set(); // "table|alias" pinned to a parameter or joined
  const problems = [];
  const col = (r) => `(?:${r.alias ? r.alias : r.table}\\.)?${DIST[r.table]}`;
  for (const r of refs) {
    if (REFERENCE.has(r.table) || LOCAL.has(r.table)) continue;
    if (!(r.table in DIST)) { problems.push(`${r.table} is in neither list of the plan`); continue; }
    const c = col(r);
    const eqParam = new RegExp(`(?<![\\w.])${c}\\s*=\\s*\\$(\\d+)|\\$(\\d+)(?:::\\w+)?\\s*=\\s*${c}(?![\\w])`, "gi");
    let found = false;
    for (const m of s.matchAll(eqParam)) { params.add(m[1] || m[2]); found = true; }
    if (r.insert) {
      const cols = new RegExp(`INTO\\s+${r.table}\\s*\\(([^)]*)\\)`, "i").exec(s);
      if (cols && cols[1].split(",").map((x) => x.trim().toLowerCase()).includes(DIST[r.table])) found = true;
    }
    if (found) pinned.add(`${r.table}|${r.alias}`);
  }
  // Co-located joins: a.dist = b.dist where b is pinned.
  for (const r of refs) {
    if (REFERENCE.has(r.table) || LOCAL.has(r.table) || !(r.table in DIST) || pinned.has(`${r.table}|${r.alias}`)) continue;
    const join = new RegExp(`(?<![\\w.])${col(r)}\\s*=\\s*([a-z_]\\w*)\\.(\\w+)|([a-z_]\\w*)\\.(\\w+)\\s*=\\s*${col(r)}(?![\\w])`, "gi");
    for (const m of s.matchAll(join)) {
      const other = refs.find((o) => o.alias === (m[1] || m[3]).toLowerCase());
      if (other && DIST[other.table] === (m[2] || m[4]).toLowerCase() && pinned.has(`${other.table}|${other.alias}`)) {
        pinned.add(`${r.table}|${r.alias}`);
      }
    }
    if (!pinned.has(`${r.table}|${r.alias}`)) {
      problems.push(`${r.table}${r.alias ? " " + r.alias : ""} is not filtered on ${DIST[r.table]} (nor joined on it to a table that is)`);
    }
  }
  if (params.size > 1) problems.push(`distribution columns bound to different parameters ($${[...params].join(", $")}): several devices`);
  return problems.join("; ");
}

function selfTest() {
  const cases = [
    ["SELECT * FROM assets WHERE device_id = $1 AND alias = $2", true],
    ["SET synchronous_commit TO off", true],
    ["UPDATE assets SET sealed = $2 WHERE seq = $1", false],
    ["SELECT d.id FROM installations i JOIN devices d ON d.id = i.device_id WHERE i.token_hash = $1", false],
    ["SELECT k.wrapped FROM devices d JOIN device_keys k ON k.device_id = d.id WHERE d.id = $1", true],
    ["INSERT INTO assets (device_id, alias) VALUES ($1, $2)", true],
    ["INSERT INTO assets (alias) VALUES ($2)", false],
    ["SELECT * FROM assets a JOIN assets b ON a.alias = b.alias WHERE a.device_id = $1 AND b.device_id = $2", false],
    ["SELECT kek_version FROM service_keys WHERE name = $1", true],
    ["WITH x AS (DELETE FROM assets WHERE device_id = $1 RETURNING 1) SELECT count(*) FROM x", true],
    ["SELECT * FROM mystery WHERE device_id = $1", false],
    ["SELECT extract(epoch FROM updated_at) FROM assets WHERE seq = $1", false],
  ];
  for (const [sql, ok] of cases) {
    const p = routingProblem(sql);
    if ((p === "") !== ok) throw new Error(`self-test: "${sql}" judged ${p === "" ? "routable" : `not routable (${p})`}`);
  }
  return cases.length;
}

const n = selfTest();
console.log(`citus-routing: the checker's self-test passed (${n} known cases, routable and not)`);
if (process.argv.includes("--self-test-only")) process.exit(0);

const cflags = execFileSync("pkg-config", ["--cflags", "libmicrohttpd", "jansson", "libpq", "libsodium"], { encoding: "utf8" })
  .trim().split(/\s+/).filter(Boolean);
// service/*.c and the files of its folders (store/ holds most statements).
const files = readdirSync("service", { recursive: true }).filter((f) => f.endsWith(".c")).map((f) => `service/${f}`);
const stmts = files.filter((f) => /db_stmt|db_exec\(|db_run_sql\(/.test(readFileSync(f, "utf8"))).flatMap((f) => statementsOf(f, cflags));
let bad = 0;
const seen = new Set();
for (const st of stmts) {
  seen.add(st.name);
  const p = routingProblem(st.sql);
  const key = Object.keys(MULTI_SHARD).find((k) => k === st.name || (k.startsWith("sql:") && st.sql.startsWith(k.slice(4))));
  if (key) seen.add(key);
  if (p === "") console.log(`  single-shard  ${st.name} (${st.file})`);
  else if (key) console.log(`  multi-shard   ${st.name} (${st.file}), by design: ${MULTI_SHARD[key]}`);
  else { console.log(`  NOT ROUTABLE  ${st.name} (${st.file}): ${p}`); bad++; }
}
for (const name of Object.keys(MULTI_SHARD)) {
  if (!seen.has(name)) { console.log(`  STALE         ${name.slice(0, 60)} is listed as multi-shard by design but is no statement any more`); bad++; }
}
// store.c's query builder: every list / bulk delete starts from scope_where().
const store = readFileSync("service/store/store.c", "utf8");
const scope = /static void scope_where\([^)]*\)\s*\{([\s\S]*?)\n\}/.exec(store);
if (!scope || !/WHERE device_id = \$%d/.test(scope[1])) { console.log("  NOT ROUTABLE  store.c scope_where() no longer starts with WHERE device_id = $n"); bad++; }
else console.log(`  single-shard  store.c query builder (scope_where: WHERE device_id = $n, used ${(store.match(/scope_where\(/g) || []).length - 1} times)`);
if (stmts.length < 10) { console.log(`citus-routing: FAILED: only ${stmts.length} statements found in the catalog (parsing broke?)`); process.exit(1); }
console.log(`citus-routing: ${stmts.length} catalog statements, ${bad} not routable by device`);
process.exit(bad ? 1 : 0);
