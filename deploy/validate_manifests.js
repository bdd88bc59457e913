#!/usr/bin/env node
// Structural checks of deploy/'s YAML (compose + Kubernetes), without Docker
// or kubectl. Called by deploy/validate.sh, which parses the YAML first (with
// the `yaml` npm package or PyYAML) and pipes this script one JSON object:
//   {"files": [{"path": "k8s/deployment.yaml", "docs": [...], "error": null}]}
// Paths are relative to the deploy directory given as argv[2].
// Prints one "PASS|FAIL <check>[: detail]" line per check; exit 1 if any FAIL.
'use strict';
const fs = require('fs');
const path = require('path');

const deployDir = process.argv[2];
const input = JSON.parse(fs.readFileSync(0, 'utf8'));
let failures = 0;

function report(name, problems) {
  if (problems.length) {
    failures++;
    console.log(`FAIL ${name}: ${problems.join('; ')}`);
  } else {
    console.log(`PASS ${name}`);
  }
}
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const arr = (v) => (Array.isArray(v) ? v : []);

// ---------------------------------------------------------------- Dockerfile
// The uid the image runs as, so the manifests can be checked against it.
let imageUid = null;
let imageEntrypoint = null;
try {
  const df = fs.readFileSync(path.join(deployDir, 'Dockerfile'), 'utf8');
  const users = [...df.matchAll(/^\s*USER\s+(\d+)/gim)];
  if (users.length) imageUid = Number(users[users.length - 1][1]);
  const ep = [...df.matchAll(/^\s*ENTRYPOINT\s+(\[.*\])\s*$/gim)];
  if (ep.length) imageEntrypoint = JSON.parse(ep[ep.length - 1][1]);
} catch (e) {
  /* reported by validate.sh's Dockerfile checks */
}
const SUBCOMMANDS = ['serve', 'migrate', 'worker', 'rotate-key'];
const HTTP_PORT = 8080;

// ------------------------------------------------------------------- parsing
for (const f of input.files) {
  report(`yaml parses: ${f.path}`, f.error ? [f.error] : []);
}
const parsed = input.files.filter((f) => !f.error);

// ---------------------------------------------------------------- Kubernetes
const K8S_API = {
  Deployment: 'apps/v1', StatefulSet: 'apps/v1', DaemonSet: 'apps/v1',
  Job: 'batch/v1', CronJob: 'batch/v1', Service: 'v1', Secret: 'v1',
  ConfigMap: 'v1', ServiceAccount: 'v1', PodDisruptionBudget: 'policy/v1',
  HorizontalPodAutoscaler: 'autoscaling/v2', NetworkPolicy: 'networking.k8s.io/v1',
};
const k8sDocs = [];
for (const f of parsed.filter((f) => f.path.startsWith('k8s/'))) {
  f.docs.forEach((d, i) => {
    if (d !== null && d !== undefined) k8sDocs.push({ file: f.path, index: i, doc: d });
  });
}
const docName = (x) => `${x.file}#${x.index} ${x.doc && x.doc.kind}/${x.doc && x.doc.metadata && x.doc.metadata.name}`;

if (parsed.some((f) => f.path.startsWith('k8s/'))) {
  const seen = new Set();
  for (const x of k8sDocs) {
    const p = [];
    const d = x.doc;
    if (!isObj(d)) { report(`k8s object: ${x.file}#${x.index}`, ['document is not a mapping']); continue; }
    if (typeof d.apiVersion !== 'string' || !d.apiVersion) p.push('missing apiVersion');
    if (typeof d.kind !== 'string' || !d.kind) p.push('missing kind');
    if (!isObj(d.metadata) || typeof d.metadata.name !== 'string' || !d.metadata.name) p.push('missing metadata.name');
    else if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(d.metadata.name) || d.metadata.name.length > 63) p.push(`metadata.name "${d.metadata.name}" is not a DNS label`);
    if (isObj(d.metadata) && d.metadata.namespace !== undefined) p.push('metadata.namespace set (manifests must stay namespace-agnostic)');
    if (K8S_API[d.kind] && d.apiVersion !== K8S_API[d.kind]) p.push(`${d.kind} should be apiVersion ${K8S_API[d.kind]}, not ${d.apiVersion}`);
    const key = `${d.kind}/${d.metadata && d.metadata.name}`;
    if (seen.has(key)) p.push(`duplicate ${key}`);
    seen.add(key);
    report(`k8s object: ${docName(x)}`, p);
  }
}

const secrets = new Map(); // name -> Set(keys)
for (const x of k8sDocs) {
  const d = x.doc;
  if (isObj(d) && d.kind === 'Secret' && isObj(d.metadata)) {
    secrets.set(d.metadata.name, new Set([...Object.keys(d.data || {}), ...Object.keys(d.stringData || {})]));
    // The committed Secret is an example: every value must be a placeholder,
    // so a real key can never slip into the repository through this file.
    const p = [];
    if (d.data && Object.keys(d.data).length) p.push('uses data: (base64 values); use stringData placeholders');
    for (const [k, v] of Object.entries(d.stringData || {})) {
      if (typeof v !== 'string' || !v.includes('REPLACE-ME')) p.push(`stringData.${k} is not a REPLACE-ME placeholder`);
    }
    report(`k8s Secret ${d.metadata.name} holds only placeholders`, p);
  }
}

function podTemplateOf(d) {
  if (!isObj(d) || !isObj(d.spec)) return null;
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(d.kind)) return d.spec.template || null;
  if (d.kind === 'CronJob') return d.spec.jobTemplate && d.spec.jobTemplate.spec && d.spec.jobTemplate.spec.template;
  return null;
}

// The assetd subcommand a container runs (image ENTRYPOINT is ["assetd"]).
function subcommandOf(c) {
  let argv = [];
  if (Array.isArray(c.command) && c.command.length) {
    argv = c.command.concat(arr(c.args));
    if (path.basename(String(argv[0])) !== 'assetd') return null; // not assetd
    argv = argv.slice(1);
  } else {
    argv = arr(c.args);
  }
  return argv.length ? String(argv[0]) : 'serve'; // CMD ["serve"]
}

function resolvePort(c, port) {
  if (typeof port === 'number') return port;
  const cp = arr(c.ports).find((p) => p.name === port);
  return cp ? cp.containerPort : undefined;
}

function checkPodSpec(x, tpl) {
  const p = [];
  const spec = tpl && tpl.spec;
  if (!isObj(spec)) return { problems: ['no pod template spec'], containers: [] };
  const psc = spec.securityContext || {};
  const volumes = new Map(arr(spec.volumes).map((v) => [v.name, v]));
  for (const v of volumes.values()) {
    if (v.secret) {
      const keys = secrets.get(v.secret.secretName);
      if (!keys) p.push(`volume ${v.name}: Secret ${v.secret.secretName} is not defined in k8s/`);
      else for (const it of arr(v.secret.items)) if (!keys.has(it.key)) p.push(`volume ${v.name}: Secret ${v.secret.secretName} has no key ${it.key}`);
    }
  }
  const containers = arr(spec.containers).concat(arr(spec.initContainers));
  if (!arr(spec.containers).length) p.push('no containers');
  for (const c of containers) {
    const cn = `container ${c.name}`;
    const csc = c.securityContext || {};
    if (!c.image) p.push(`${cn}: no image`);
    const nonRoot = csc.runAsNonRoot !== undefined ? csc.runAsNonRoot : psc.runAsNonRoot;
    if (nonRoot !== true) p.push(`${cn}: runAsNonRoot is not true`);
    const uid = csc.runAsUser !== undefined ? csc.runAsUser : psc.runAsUser;
    if (uid === 0) p.push(`${cn}: runAsUser 0`);
    if (imageUid !== null && uid !== undefined && uid !== imageUid) p.push(`${cn}: runAsUser ${uid} differs from the image's USER ${imageUid}`);
    if (csc.readOnlyRootFilesystem !== true) p.push(`${cn}: readOnlyRootFilesystem is not true`);
    if (csc.allowPrivilegeEscalation !== false) p.push(`${cn}: allowPrivilegeEscalation is not false`);
    if (csc.privileged === true) p.push(`${cn}: privileged`);
    if (!(csc.capabilities && arr(csc.capabilities.drop).includes('ALL'))) p.push(`${cn}: capabilities.drop lacks ALL`);
    if (arr(csc.capabilities && csc.capabilities.add).length) p.push(`${cn}: adds capabilities`);
    const r = c.resources || {};
    if (!(r.requests && r.requests.cpu && r.requests.memory)) p.push(`${cn}: resources.requests cpu/memory missing`);
    if (!(r.limits && r.limits.memory)) p.push(`${cn}: resources.limits.memory missing`);

    const mounts = arr(c.volumeMounts);
    for (const m of mounts) if (!volumes.has(m.name)) p.push(`${cn}: volumeMount ${m.name} has no volume`);
    const env = arr(c.env);
    const names = new Set();
    for (const e of env) {
      if (!e || typeof e.name !== 'string') { p.push(`${cn}: env entry without name`); continue; }
      if (names.has(e.name)) p.push(`${cn}: env ${e.name} set twice`);
      names.add(e.name);
      if (e.value !== undefined && typeof e.value !== 'string') p.push(`${cn}: env ${e.name} value must be a string (quote it)`);
      const skr = e.valueFrom && e.valueFrom.secretKeyRef;
      if (skr) {
        const keys = secrets.get(skr.name);
        if (!keys) p.push(`${cn}: env ${e.name}: Secret ${skr.name} not defined in k8s/`);
        else if (!keys.has(skr.key)) p.push(`${cn}: env ${e.name}: Secret ${skr.name} has no key ${skr.key}`);
      }
      if (/PASSWORD|TOKEN|KEY|DATABASE_URL/.test(e.name) && !e.name.endsWith('_FILE') && typeof e.value === 'string' && e.value) {
        p.push(`${cn}: env ${e.name} has an inline value; take it from a Secret`);
      }
      if (e.name.endsWith('_FILE') && typeof e.value === 'string') {
        // must be a file of a mounted secret volume
        const m = mounts.find((m) => e.value.startsWith(m.mountPath.replace(/\/?$/, '/')));
        const v = m && volumes.get(m.name);
        if (!v || !v.secret) p.push(`${cn}: env ${e.name}=${e.value} is not inside a mounted secret volume`);
        else {
          const rel = e.value.slice(m.mountPath.replace(/\/?$/, '/').length);
          const files = v.secret.items ? arr(v.secret.items).map((i) => i.path) : [...(secrets.get(v.secret.secretName) || [])];
          if (!files.includes(rel)) p.push(`${cn}: env ${e.name}: ${rel} is not a file of secret volume ${m.name}`);
        }
      }
    }
  }
  return { problems: p, containers };
}

const envOf = (c, name) => { const e = arr(c.env).find((e) => e.name === name); return e ? e.value : undefined; };
const workloads = []; // {x, labels, mode, containers}

for (const x of k8sDocs) {
  const d = x.doc;
  const tpl = podTemplateOf(d);
  if (!tpl) continue;
  const { problems: p, containers } = checkPodSpec(x, tpl);
  const labels = (tpl.metadata && tpl.metadata.labels) || {};
  const main = arr(tpl.spec && tpl.spec.containers)[0] || {};
  const mode = subcommandOf(main);
  if (mode !== null && !SUBCOMMANDS.includes(mode)) p.push(`unknown assetd subcommand "${mode}"`);
  if (d.kind === 'Deployment' || d.kind === 'StatefulSet') {
    const ml = (d.spec.selector && d.spec.selector.matchLabels) || {};
    if (!Object.keys(ml).length) p.push('spec.selector.matchLabels empty');
    for (const [k, v] of Object.entries(ml)) if (labels[k] !== v) p.push(`selector ${k}=${v} does not match the pod template labels`);
    if (!(Number.isInteger(d.spec.replicas) && d.spec.replicas >= 1)) p.push('spec.replicas must be an integer >= 1');
  }
  if (d.kind === 'Deployment' && mode === 'serve') {
    const c = main;
    const lp = c.livenessProbe && c.livenessProbe.httpGet;
    const rp = c.readinessProbe && c.readinessProbe.httpGet;
    if (!lp || lp.path !== '/healthz') p.push('livenessProbe is not httpGet /healthz');
    else if (resolvePort(c, lp.port) !== HTTP_PORT) p.push(`livenessProbe port ${lp.port} is not ${HTTP_PORT}`);
    if (!rp || rp.path !== '/readyz') p.push('readinessProbe is not httpGet /readyz');
    else if (resolvePort(c, rp.port) !== HTTP_PORT) p.push(`readinessProbe port ${rp.port} is not ${HTTP_PORT}`);
    if (!arr(c.ports).some((q) => q.containerPort === HTTP_PORT)) p.push(`no containerPort ${HTTP_PORT}`);
    const port = envOf(c, 'ASSETD_PORT');
    if (port !== undefined && port !== String(HTTP_PORT)) p.push(`ASSETD_PORT=${port} but probes use ${HTTP_PORT}`);
    if (envOf(c, 'ASSETD_SYNC_WORKERS') !== '0') p.push('ASSETD_SYNC_WORKERS must be "0" (restores run in the worker Deployment)');
    if (!envOf(c, 'ASSETD_MASTER_KEY_FILE')) p.push('ASSETD_MASTER_KEY_FILE not set');
    if (!envOf(c, 'ASSETD_ADMIN_TOKEN_FILE')) p.push('ASSETD_ADMIN_TOKEN_FILE not set');
  }
  if (d.kind === 'Deployment' && mode === 'worker') {
    for (const c of containers) {
      for (const pr of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
        if (c[pr] && (c[pr].httpGet || c[pr].tcpSocket)) p.push(`${pr} probes HTTP/TCP, but "assetd worker" serves no HTTP`);
      }
    }
    if (envOf(main, 'ASSETD_SYNC_WORKERS') === '0') p.push('ASSETD_SYNC_WORKERS=0 in a worker Deployment runs nothing');
    if (!envOf(main, 'ASSETD_MASTER_KEY_FILE')) p.push('ASSETD_MASTER_KEY_FILE not set (workers re-seal records)');
  }
  if (d.kind === 'Job') {
    const rpol = tpl.spec && tpl.spec.restartPolicy;
    if (!['Never', 'OnFailure'].includes(rpol)) p.push('Job restartPolicy must be Never or OnFailure');
    if (!Number.isInteger(d.spec.backoffLimit)) p.push('Job backoffLimit not set');
  }
  if (['Deployment', 'Job'].includes(d.kind) && mode !== null && imageEntrypoint && imageEntrypoint[0] !== 'assetd') {
    p.push(`image ENTRYPOINT is ${JSON.stringify(imageEntrypoint)}, args assume ["assetd"]`);
  }
  workloads.push({ x, labels, mode, containers, kind: d.kind });
  report(`k8s ${d.kind} ${d.metadata.name} (${mode || 'other'}): pod spec, security, probes`, p);
}

if (k8sDocs.length) {
  const modes = workloads.map((w) => `${w.kind}:${w.mode}`);
  const need = ['Deployment:serve', 'Deployment:worker', 'Job:migrate'];
  report('k8s has serve + worker Deployments and a migrate Job', need.filter((n) => !modes.includes(n)).map((n) => `missing ${n}`));
}

for (const x of k8sDocs) {
  const d = x.doc;
  if (!isObj(d) || d.kind !== 'Service') continue;
  const p = [];
  const sel = (d.spec && d.spec.selector) || {};
  const matches = (labels) => Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => labels[k] === v);
  const hit = workloads.filter((w) => matches(w.labels));
  if (!hit.length) p.push('selector matches no pod template');
  for (const w of hit) if (w.mode !== 'serve') p.push(`selector also matches ${docName(w.x)} (mode ${w.mode}), which serves no HTTP`);
  for (const sp of arr(d.spec && d.spec.ports)) {
    for (const w of hit.filter((w) => w.mode === 'serve')) {
      const c = w.containers[0];
      const tp = sp.targetPort === undefined ? sp.port : sp.targetPort;
      if (resolvePort(c, tp) !== HTTP_PORT) p.push(`port ${sp.port}: targetPort ${tp} does not resolve to ${HTTP_PORT} in ${docName(w.x)}`);
    }
  }
  report(`k8s Service ${d.metadata && d.metadata.name}: selects only serve pods, port ${HTTP_PORT}`, p);
}

// ------------------------------------------------------------------- Compose
function envMap(env) {
  if (Array.isArray(env)) {
    const m = {};
    for (const s of env) { const i = String(s).indexOf('='); m[i < 0 ? s : s.slice(0, i)] = i < 0 ? null : s.slice(i + 1); }
    return m;
  }
  return isObj(env) ? env : {};
}
const cmdList = (v) => (Array.isArray(v) ? v.map(String) : typeof v === 'string' ? v.split(/\s+/).filter(Boolean) : []);

// Every string in the file, with its location, for the "$" interpolation rules.
function walkStrings(v, loc, cb) {
  if (typeof v === 'string') cb(v, loc);
  else if (Array.isArray(v)) v.forEach((e, i) => walkStrings(e, `${loc}[${i}]`, cb));
  else if (isObj(v)) for (const [k, e] of Object.entries(v)) walkStrings(e, loc ? `${loc}.${k}` : k, cb);
}

for (const f of parsed.filter((f) => /(^|\/)(docker-)?compose[^/]*\.ya?ml$/.test(f.path))) {
  const c = f.docs.find((d) => d !== null && d !== undefined);
  if (!isObj(c) || !isObj(c.services)) { report(`compose ${f.path}: structure`, ['no services mapping']); continue; }
  const composeDir = path.dirname(path.join(deployDir, f.path));
  const topSecrets = isObj(c.secrets) ? c.secrets : {};
  const services = c.services;
  const p0 = [];
  for (const [n, s] of Object.entries(topSecrets)) {
    if (!isObj(s) || !(s.file || s.environment || s.external)) p0.push(`secret ${n}: needs file:, environment: or external:`);
    if (isObj(s) && s.file && !String(s.file).startsWith('./secrets/')) p0.push(`secret ${n}: file ${s.file} is outside ./secrets/ (the git-ignored directory)`);
  }
  report(`compose ${f.path}: top-level secrets come from files in ./secrets/`, p0);

  // "$" handling: compose interpolates $VAR / ${VAR} everywhere; shell code
  // must write "$$". A lone "$" before anything else is a compose error.
  const pi = [];
  walkStrings(c, '', (s, loc) => {
    const rest = s.replace(/\$\$/g, '');
    if (/\$(?![{A-Za-z_])/.test(rest)) pi.push(`${loc}: invalid "$" (write "$$" for a literal $)`);
    else if (/\.(entrypoint|command|healthcheck\.test)(\[|$)/.test(loc) && /\$/.test(rest)) pi.push(`${loc}: "$" would be interpolated by compose, not by the shell (write "$$")`);
  });
  report(`compose ${f.path}: "$" escaping`, pi);

  const modeOf = (s) => {
    if (!s.image || !/assetd/.test(String(s.image))) return null;
    const cmd = cmdList(s.command);
    return cmd.length ? cmd[0] : 'serve';
  };
  const modes = {};
  for (const [name, s] of Object.entries(services)) {
    const p = [];
    if (!isObj(s)) { report(`compose service ${name}`, ['not a mapping']); continue; }
    if (!s.image && !s.build) p.push('neither image nor build');
    if (s.build) {
      const b = typeof s.build === 'string' ? { context: s.build } : s.build;
      const ctx = path.resolve(composeDir, b.context || '.');
      const dfile = path.resolve(ctx, b.dockerfile || 'Dockerfile');
      if (!fs.existsSync(ctx)) p.push(`build context ${b.context} does not exist`);
      if (!fs.existsSync(dfile)) p.push(`dockerfile ${b.dockerfile} not found from context ${b.context}`);
    }
    // secrets
    const svcSecrets = new Map(); // target path -> source
    for (const ref of arr(s.secrets)) {
      const src = typeof ref === 'string' ? ref : ref && ref.source;
      const tgt = typeof ref === 'string' ? ref : (ref.target || ref.source);
      if (!Object.prototype.hasOwnProperty.call(topSecrets, src)) p.push(`secret ${src} is not defined at top level`);
      svcSecrets.set(tgt.startsWith('/') ? tgt : `/run/secrets/${tgt}`, src);
    }
    const env = envMap(s.environment);
    for (const [k, v] of Object.entries(env)) {
      if (k.endsWith('_FILE')) {
        if (!svcSecrets.has(String(v))) p.push(`${k}=${v} is not one of this service's secrets`);
      } else if (/PASSWORD|TOKEN|MASTER_KEY/.test(k) && v !== null && v !== undefined && v !== '') {
        p.push(`${k} is inline; use ${k}_FILE and a secret`);
      }
      if (/^[a-z]+:\/\/[^/@\s]*:[^/@\s]*@/.test(String(v))) p.push(`${k} carries an inline password`);
    }
    // depends_on
    const dep = s.depends_on;
    const deps = Array.isArray(dep) ? Object.fromEntries(dep.map((d) => [d, { condition: 'service_started' }])) : (isObj(dep) ? dep : {});
    for (const [d, spec] of Object.entries(deps)) {
      if (!services[d]) { p.push(`depends_on ${d}: no such service`); continue; }
      const cond = (spec && spec.condition) || 'service_started';
      if (!['service_started', 'service_healthy', 'service_completed_successfully'].includes(cond)) p.push(`depends_on ${d}: bad condition ${cond}`);
      if (cond === 'service_healthy' && !(services[d].healthcheck && services[d].healthcheck.test && !services[d].healthcheck.disable)) p.push(`depends_on ${d}: service_healthy but ${d} has no healthcheck`);
    }
    const mode = modeOf(s);
    if (mode) {
      modes[name] = mode;
      if (!SUBCOMMANDS.includes(mode)) p.push(`unknown assetd subcommand ${mode}`);
      if (s.read_only !== true) p.push('read_only is not true');
      if (!arr(s.cap_drop).includes('ALL')) p.push('cap_drop lacks ALL');
      if (!arr(s.security_opt).some((o) => /^no-new-privileges(:true)?$/.test(o))) p.push('security_opt lacks no-new-privileges');
      if (s.user !== undefined && /^(0|root)(:|$)/.test(String(s.user))) p.push('runs as root');
      if (!env.DATABASE_URL) p.push('DATABASE_URL not set');
      if (mode === 'serve' || mode === 'worker') {
        if (!env.ASSETD_MASTER_KEY_FILE) p.push('ASSETD_MASTER_KEY_FILE not set');
        const mig = Object.entries(deps).find(([d]) => modeOf(services[d] || {}) === 'migrate');
        if (!mig || (mig[1] && mig[1].condition) !== 'service_completed_successfully') p.push('does not depend_on the migrate service with service_completed_successfully');
      }
      if (mode === 'serve') {
        if (!env.ASSETD_ADMIN_TOKEN_FILE) p.push('ASSETD_ADMIN_TOKEN_FILE not set');
        if (!(s.healthcheck && s.healthcheck.test && JSON.stringify(s.healthcheck.test).includes('/healthz'))) p.push('no healthcheck of /healthz');
        if (!arr(s.ports).some((q) => new RegExp(`(^|:)${HTTP_PORT}(/tcp)?$`).test(String(isObj(q) ? q.target : q)))) p.push(`does not publish container port ${HTTP_PORT}`);
      } else if (s.healthcheck && !s.healthcheck.disable && JSON.stringify(s.healthcheck.test || '').includes('/healthz')) {
        p.push(`HTTP healthcheck, but "assetd ${mode}" serves no HTTP`);
      }
      if (mode === 'migrate') {
        if (!['no', undefined].includes(s.restart)) p.push(`restart: ${s.restart} on a one-shot service`);
        const pg = Object.entries(deps).find(([d]) => /postgres/.test(String(services[d] && services[d].image)));
        if (!pg || (pg[1] && pg[1].condition) !== 'service_healthy') p.push('does not depend_on postgres with service_healthy');
      }
    }
    if (/^postgres(:|$)/.test(String(s.image))) {
      const hc = s.healthcheck && JSON.stringify(s.healthcheck.test || '');
      if (!hc || !hc.includes('pg_isready')) p.push('postgres healthcheck does not use pg_isready');
      if (!env.POSTGRES_PASSWORD_FILE) p.push('POSTGRES_PASSWORD_FILE not set');
    }
    report(`compose service ${name}${mode ? ` (assetd ${mode})` : ''}`, p);
  }
  const have = Object.values(modes);
  report(`compose ${f.path}: has migrate, serve and worker services`, ['migrate', 'serve', 'worker'].filter((m) => !have.includes(m)).map((m) => `no "assetd ${m}" service`));
}

process.exit(failures ? 1 : 0);
