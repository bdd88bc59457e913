// The SDK flow: a TypeScript client generated from openapi.yaml (openapi-typescript types +
// openapi-fetch) drives a real assetd through the seed's sync scenario. tsc --strict compiles
// this file against gen/schema.ts, so the generated types must type-check the whole flow.
//
// Env: ASSETD_URL, ASSETD_ADMIN_TOKEN (run-flow.sh starts the server and sets both);
// TEST_RESPONSE_LOG (optional): append one JSON line per response, in the format that
// validate-responses.mjs reads, so that the SDK's responses are contract-checked too.
import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./gen/schema.js";

type Asset = components["schemas"]["Asset"];
type Restore = components["schemas"]["Restore"];

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run tests/sdk/run-flow.sh)`);
  return v;
}
const baseUrl = env("ASSETD_URL");
const adminToken = env("ASSETD_ADMIN_TOKEN");
const responseLog = process.env["TEST_RESPONSE_LOG"];

function short(text: string, max = 600): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
}

// Prints every request and response of the flow and logs each response for the contract check.
const trace: Middleware = {
  onRequest({ request }) {
    const url = new URL(request.url);
    console.log(`    -> ${request.method} ${url.pathname}${url.search}`);
    return undefined;
  },
  async onResponse({ request, response }) {
    const url = new URL(request.url);
    const text = await response.clone().text();
    let body: unknown = null;
    let bodyText: string | undefined;
    if (text.length > 0) {
      try {
        body = JSON.parse(text);
      } catch {
        bodyText = text;
      }
    }
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      headers[name.toLowerCase()] = value;
    });
    const contentType = response.headers.get("content-type");
    if (responseLog) {
      const line = {
        method: request.method,
        path: `${url.pathname}${url.search}`,
        status: response.status,
        contentType,
        body,
        headers,
        ...(bodyText === undefined ? {} : { bodyText }),
      };
      appendFileSync(responseLog, `${JSON.stringify(line)}\n`);
    }
    const extra = ["location", "www-authenticate", "retry-after"]
      .filter((h) => headers[h] !== undefined)
      .map((h) => ` ${h}: ${headers[h]}`)
      .join("");
    console.log(`    <- ${response.status} ${contentType ?? "(no content type)"}${extra}${text ? `  ${short(text)}` : ""}`);
    return undefined;
  },
};

function client(token: string) {
  const c = createClient<paths>({
    baseUrl,
    headers: { Authorization: `Bearer ${token}` },
    // syncType is a comma-separated list (style form, explode false), not a repeated parameter.
    querySerializer: { array: { style: "form", explode: false } },
  });
  c.use(trace);
  return c;
}

function step(title: string): void {
  console.log(`\n  * ${title}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("SDK flow: backup on the old device, restore onto the new one (TRUSTED_DEVICE)", async (t) => {
  const admin = client(adminToken);
  const account = `acct-${randomBytes(6).toString("hex")}`;
  const appId = "com.example.notes";
  const secret = Buffer.from("demo_pwd").toString("base64");
  assert.equal(secret, "ZGVtb19wd2Q=");

  await t.test("the service is live and ready", async () => {
    step("GET /healthz and GET /readyz (no token)");
    const anon = createClient<paths>({ baseUrl });
    anon.use(trace);
    const h = await anon.GET("/healthz");
    assert.equal(h.response.status, 200);
    assert.deepEqual(h.data, { status: "ok" });
    const r = await anon.GET("/readyz");
    assert.equal(r.response.status, 200);
    assert.deepEqual(r.data, { status: "ready" });
  });

  // Two devices of one account, registered by the admin.
  const devices: { id: string; token: string }[] = [];
  await t.test("register two devices of one account (admin)", async () => {
    for (const name of ["old phone", "new phone"]) {
      step(`POST /devices {name: "${name}", accountId: "${account}"}`);
      const { data, error, response } = await admin.POST("/devices", { body: { name, accountId: account } });
      assert.equal(response.status, 201, JSON.stringify(error));
      assert.ok(data);
      assert.match(data.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.equal(data.deviceToken.length, 43);
      devices.push({ id: data.id, token: data.deviceToken });
    }
  });
  const [oldDev, newDev] = devices;
  assert.ok(oldDev && newDev, "two devices registered");
  const oldDevice = client(oldDev.token);
  const newDevice = client(newDev.token);

  await t.test("each device reads itself (device token)", async () => {
    for (const [label, dev, c] of [["old", oldDev, oldDevice], ["new", newDev, newDevice]] as const) {
      step(`GET /devices/{id} of the ${label} device with its own token`);
      const { data, response } = await c.GET("/devices/{id}", { params: { path: { id: dev.id } } });
      assert.equal(response.status, 200);
      assert.ok(data);
      assert.equal(data.id, dev.id);
      assert.equal(data.accountId, account);
      assert.deepEqual(data.state, { lockScreenPasswordSet: false, screenLocked: false, unlockedSinceBoot: true });
    }
  });

  const installTokens: string[] = [];
  await t.test(`install ${appId} on each device (device token)`, async () => {
    for (const [label, dev, c] of [["old", oldDev, oldDevice], ["new", newDev, newDevice]] as const) {
      step(`POST /devices/{id}/apps {appId: "${appId}"} on the ${label} device`);
      const { data, error, response } = await c.POST("/devices/{id}/apps", {
        params: { path: { id: dev.id } },
        body: { appId },
      });
      assert.equal(response.status, 201, JSON.stringify(error));
      assert.ok(data);
      assert.equal(data.appId, appId);
      installTokens.push(data.token);
    }
  });
  const [oldAppToken, newAppToken] = installTokens;
  assert.ok(oldAppToken && newAppToken, "two installations");
  const oldApp = client(oldAppToken);
  const newApp = client(newAppToken);

  await t.test("add the seed's asset on the old device", async () => {
    step('POST /assets {secret: base64("demo_pwd"), alias: "demo_alias", dataLabelNormal1: "demo_label", syncType: [TRUSTED_DEVICE]}');
    const { data, error, response } = await oldApp.POST("/assets", {
      body: { secret, alias: "demo_alias", dataLabelNormal1: "demo_label", syncType: ["TRUSTED_DEVICE"] },
    });
    assert.equal(response.status, 201, JSON.stringify(error));
    assert.ok(data);
    const a: Asset = data;
    assert.equal(a.alias, "demo_alias");
    assert.equal(a.dataLabelNormal1, "demo_label");
    assert.deepEqual(a.syncType, ["TRUSTED_DEVICE"]);
    assert.equal(a.accessibility, "DEVICE_FIRST_UNLOCKED");
    assert.equal(a.secret, undefined, "add never returns the secret");
  });

  await t.test("negative: the same alias again is 409 DUPLICATED (problem+json, code 24000003)", async () => {
    step("POST /assets with the same alias (conflictResolution defaults to THROW_ERROR)");
    const { data, error, response } = await oldApp.POST("/assets", {
      body: { secret, alias: "demo_alias", syncType: ["TRUSTED_DEVICE"] },
    });
    assert.equal(data, undefined);
    assert.equal(response.status, 409);
    assert.match(response.headers.get("content-type") ?? "", /^application\/problem\+json/);
    assert.ok(error);
    assert.equal(error.code, 24000003);
    assert.equal(error.name, "DUPLICATED");
    assert.equal(error.type, "urn:assetd:error:DUPLICATED");
    assert.equal(error.status, 409);
  });

  await t.test("batch-add: two local assets written, the seed's alias again reported as DUPLICATED", async () => {
    step('POST /assets/batch-add {assets: [local_a, local_b, demo_alias]} (no syncType: not backed up)');
    const { data, error, response } = await oldApp.POST("/assets/batch-add", {
      body: {
        assets: [
          { secret, alias: "local_a", dataLabelNormal1: "batch" },
          { secret, alias: "local_b", dataLabelNormal1: "batch" },
          { secret, alias: "demo_alias" },
        ],
      },
    });
    assert.equal(response.status, 200, JSON.stringify(error));
    assert.ok(data);
    assert.equal(data.failedCount, 1);
    assert.equal(data.failedErrorInfos.length, 1);
    assert.equal(data.failedErrorInfos[0]?.index, 2);
    assert.equal(data.failedErrorInfos[0]?.errCode, 24000003);
    assert.equal(data.failedErrorInfos[0]?.name, "DUPLICATED");
    step("GET /assets?dataLabelNormal1=batch: both batch items are there, in the batch's order");
    const page = await oldApp.GET("/assets", { params: { query: { dataLabelNormal1: "batch" } } });
    assert.equal(page.response.status, 200, JSON.stringify(page.error));
    assert.deepEqual(page.data?.assets.map((a) => a.alias), ["local_a", "local_b"]);
  });

  await t.test("negative: an unknown token is 401 PERMISSION_DENIED with WWW-Authenticate", async () => {
    step("GET /sync-result with a token assetd never issued");
    const stranger = client(randomBytes(32).toString("base64url"));
    const { error, response } = await stranger.GET("/sync-result");
    assert.equal(response.status, 401);
    assert.match(response.headers.get("www-authenticate") ?? "", /^Bearer/);
    assert.ok(error);
    assert.equal(error.code, 201);
    assert.equal(error.name, "PERMISSION_DENIED");
  });

  let backupId = "";
  await t.test("back up the old device (device token)", async () => {
    step("POST /backups {deviceId: old}");
    const { data, error, response } = await oldDevice.POST("/backups", { body: { deviceId: oldDev.id } });
    assert.equal(response.status, 201, JSON.stringify(error));
    assert.ok(data);
    assert.equal(data.deviceId, oldDev.id);
    assert.equal(data.recordCount, 1);
    backupId = data.id;
    step("GET /backups/{id} (admin)");
    const got = await admin.GET("/backups/{id}", { params: { path: { id: backupId } } });
    assert.equal(got.response.status, 200);
    assert.deepEqual(got.data, data);
  });

  await t.test("preview the restore: what it would do, writing nothing", async () => {
    step("POST /restores/preview {backupId, targetDeviceId: new} with the new device's token");
    const { data, error, response } = await newDevice.POST("/restores/preview", {
      body: { backupId, targetDeviceId: newDev.id },
    });
    assert.equal(response.status, 200, JSON.stringify(error));
    assert.ok(data);
    assert.equal(data.total, 1);
    assert.equal(data.wouldAccept, 1);
    assert.equal(data.wouldFail, 0);
    assert.deepEqual(data.failures, { password: 0, unlocked: 0, user_auth: 0, first_unlock: 0 });
    assert.deepEqual(data.owners, [{ appId, requireAttrEncrypted: false, total: 1, failed: 0 }]);
    assert.deepEqual(data.fixes, []);
  });

  let restore: Restore | undefined;
  await t.test("restore onto the new device (202) and poll until done", async () => {
    step("POST /restores {backupId, targetDeviceId: new} with the new device's token");
    const { data, error, response } = await newDevice.POST("/restores", {
      body: { backupId, targetDeviceId: newDev.id },
    });
    assert.equal(response.status, 202, JSON.stringify(error));
    assert.ok(data);
    assert.equal(response.headers.get("location"), `/restores/${data.id}`);
    assert.equal(data.backupId, backupId);
    assert.equal(data.targetDeviceId, newDev.id);
    assert.equal(data.total, 1);
    const id = data.id;
    step(`GET /restores/{id}?waitSeconds=10 (long poll) until status is done (30 s at most)`);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const got = await newDevice.GET("/restores/{id}", { params: { path: { id }, query: { waitSeconds: 10 } } });
      assert.equal(got.response.status, 200, JSON.stringify(got.error));
      assert.ok(got.data);
      restore = got.data;
      if (restore.status === "done" || restore.status === "failed") break;
      if (Date.now() > deadline) assert.fail(`restore ${id} still ${restore.status} after 30 s`);
      await sleep(200);
    }
    assert.equal(restore.status, "done");
    assert.equal(restore.total, 1);
    assert.equal(restore.processed, 1);
    assert.equal(restore.accepted, 1);
    assert.equal(restore.failed, 0);
    assert.deepEqual(restore.failures, { password: 0, unlocked: 0, user_auth: 0, first_unlock: 0 });
    assert.ok(restore.finishedAt);
  });

  await t.test("the sync result on the new device: resultCode 0, totalCount 1, failedCount 0", async () => {
    step("GET /sync-result with the new device's installation token");
    const { data, error, response } = await newApp.GET("/sync-result");
    assert.equal(response.status, 200, JSON.stringify(error));
    assert.ok(data);
    assert.equal(data.resultCode, 0);
    assert.equal(data.totalCount, 1);
    assert.equal(data.failedCount, 0);
    assert.equal(data.restoreId, restore?.id);
    assert.equal(data.finishedAt, restore?.finishedAt);
  });

  await t.test("the job's records: the admin sees an alias hash, the app its alias", async () => {
    const id = restore?.id ?? "";
    step("GET /restores/{id}/records (admin)");
    const all = await admin.GET("/restores/{id}/records", { params: { path: { id } } });
    assert.equal(all.response.status, 200, JSON.stringify(all.error));
    assert.ok(all.data);
    assert.equal(all.data.records.length, 1);
    assert.equal(all.data.nextCursor, null);
    const r = all.data.records[0];
    assert.ok(r);
    assert.deepEqual(r.owner, { appId });
    assert.equal(r.outcome, "accepted");
    assert.equal(r.rule, null);
    assert.match(r.aliasHash, /^[0-9a-f]{64}$/);
    assert.ok(!JSON.stringify(all.data).includes("demo_alias"), "no alias for the admin");
    step("GET /restores/{id}/records?outcome=failed: none failed");
    const failed = await admin.GET("/restores/{id}/records", { params: { path: { id }, query: { outcome: "failed" } } });
    assert.equal(failed.response.status, 200);
    assert.deepEqual(failed.data, { records: [], nextCursor: null });
    step("GET /sync-result/records with the new device's installation token");
    const mine = await newApp.GET("/sync-result/records");
    assert.equal(mine.response.status, 200, JSON.stringify(mine.error));
    assert.deepEqual(mine.data, { records: [{ alias: "demo_alias", outcome: "accepted", rule: null }], nextCursor: null });
  });

  await t.test("the asset on the new device: the secret decodes to demo_pwd", async () => {
    step("GET /assets/demo_alias?returnType=ALL with the new device's installation token");
    const { data, error, response } = await newApp.GET("/assets/{alias}", {
      params: { path: { alias: "demo_alias" }, query: { returnType: "ALL" } },
    });
    assert.equal(response.status, 200, JSON.stringify(error));
    assert.ok(data);
    assert.equal(data.alias, "demo_alias");
    assert.equal(data.dataLabelNormal1, "demo_label");
    assert.deepEqual(data.syncType, ["TRUSTED_DEVICE"]);
    assert.ok(data.secret);
    assert.equal(Buffer.from(data.secret, "base64").toString("utf8"), "demo_pwd");
    console.log(`    secret decodes to "${Buffer.from(data.secret, "base64").toString("utf8")}"`);
  });

  await t.test("syncType travels as a comma list (style form, explode false)", async () => {
    step("GET /assets?alias=demo_alias&syncType=TRUSTED_DEVICE on the new device");
    const one = await newApp.GET("/assets", { params: { query: { alias: "demo_alias", syncType: ["TRUSTED_DEVICE"] } } });
    assert.equal(one.response.status, 200, JSON.stringify(one.error));
    assert.ok(one.data);
    assert.equal(one.data.assets.length, 1);
    assert.equal(one.data.nextCursor, null);
    assert.equal(one.data.assets[0]?.secret, undefined, "ATTRIBUTES by default");
    step("GET /assets?syncType=THIS_DEVICE,TRUSTED_DEVICE: the asset lacks THIS_DEVICE, so 404 (a repeated parameter would be 400)");
    const both = await newApp.GET("/assets", { params: { query: { syncType: ["THIS_DEVICE", "TRUSTED_DEVICE"] } } });
    assert.ok(new URL(both.response.url).search.includes("syncType=THIS_DEVICE,TRUSTED_DEVICE"));
    assert.equal(both.response.status, 404);
    assert.ok(both.error);
    assert.equal(both.error.name, "NOT_FOUND");
    assert.equal(both.error.code, 24000002);
  });

  await t.test("the old device still has its asset; the app's sync result there is untouched", async () => {
    step("GET /assets/demo_alias on the old device (attributes)");
    const { data, response } = await oldApp.GET("/assets/{alias}", { params: { path: { alias: "demo_alias" } } });
    assert.equal(response.status, 200);
    assert.ok(data);
    assert.equal(data.secret, undefined);
    step("GET /sync-result on the old device: no restore touched it");
    const sr = await oldApp.GET("/sync-result");
    assert.equal(sr.response.status, 200);
    assert.deepEqual(sr.data, { resultCode: 0, totalCount: 0, failedCount: 0, restoreId: null, finishedAt: null });
  });
});
